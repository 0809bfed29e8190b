// Sign-in page: POST /api/auth/login as JSON, then on to `next` (only a path on this site) or home.
"use strict";

(() => {
  const form = document.getElementById("login-form");
  if (!form) return;
  const errorBox = document.getElementById("login-error");
  const submit = form.querySelector("[data-testid='login-submit']");
  const MESSAGES = {
    401: "Wrong username or password.",
    429: "Too many attempts: wait a minute, then try again.",
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(errorBox);
    const username = form.elements.namedItem("username").value.trim();
    const password = form.elements.namedItem("password").value;
    if (!username || !password) return App.showMessage(errorBox, "Enter your username and password.");
    App.busy(submit, true, "Signing in…");
    try {
      await App.api("POST", form.action, {json: {username, password}});
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.assign(App.safeNext(next));
    } catch (err) {
      App.showMessage(errorBox, MESSAGES[err.status] || err.message);
      form.elements.namedItem("password").value = "";
      App.busy(submit, false);
    }
  });
  App.ready();
})();
