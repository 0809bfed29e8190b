// First-admin page behind the one-time link: the token comes from this page's address (?token=...) and goes
// to POST /api/auth/setup in the X-Setup-Token header; the answer signs the new admin in.
"use strict";

(() => {
  const form = document.getElementById("setup-form");
  if (!form) return;
  const errorBox = document.getElementById("setup-error");
  const submit = form.querySelector("[data-testid='setup-submit']");
  const token = new URLSearchParams(window.location.search).get("token") || "";

  function problem(username, password, confirm) {
    if (!token) return "This page needs the link printed by `automl serve` (it ends in ?token=…).";
    if (!username) return "Choose a username.";
    if (!password) return "Choose a password.";
    if (password !== confirm) return "The two passwords differ.";
    return null;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(errorBox);
    const username = form.elements.namedItem("username").value.trim();
    const password = form.elements.namedItem("password").value;
    const wrong = problem(username, password, form.elements.namedItem("confirm").value);
    if (wrong) return App.showMessage(errorBox, wrong);
    App.busy(submit, true, "Creating…");
    try {
      await App.api("POST", "/api/auth/setup", {json: {username, password}, headers: {"X-Setup-Token": token}});
      window.location.assign("/");
    } catch (err) {
      const used = err.status === 401 ? " This link is wrong or was already used: sign in at /login instead." : "";
      App.showMessage(errorBox, err.message + used);
      App.busy(submit, false);
    }
  });
  if (!token) App.showMessage(errorBox, problem("", "", ""));
  App.ready();
})();
