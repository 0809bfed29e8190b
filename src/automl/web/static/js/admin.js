// Admin page: users (create, role, disable/enable, password), everyone's tokens (create, shown once; revoke)
// and the audit log (filters, paging). Everything goes through the JSON API; text reaches the DOM as text.
"use strict";

(() => {
  const page = document.getElementById("admin-page");
  if (!page) return;
  const me = page.dataset.me;
  const el = App.el;
  const AUDIT_PAGE = 50;

  // "2024-05-01T12:34:56.789+00:00" -> "2024-05-01 12:34", as the server-rendered pages show times
  function when(value) {
    return value ? String(value).slice(0, 16).replace("T", " ") : "—";
  }

  function items(body) {
    return Array.isArray(body) ? body : (body && body.items) || [];
  }

  function rowMessage(body, colspan, text) {
    body.replaceChildren(el("tr", {}, el("td", {colspan, class: "text-body-secondary small"}, text)));
  }

  // --- users -----------------------------------------------------------------------------------------
  const users = {
    body: document.getElementById("users-body"),
    total: document.getElementById("users-total"),
    error: document.getElementById("user-error"),
    notice: document.getElementById("user-notice"),
    form: document.getElementById("user-form"),
    roles: Array.from(document.getElementById("new-role").options).map((o) => o.value),
  };

  function roleSelect(user) {
    const select = el("select", {class: "form-select form-select-sm w-auto", "data-user-role": user.id,
                                 "aria-label": `Role of ${user.username}`},
      users.roles.map((r) => el("option", {value: r, selected: r === user.role}, r)));
    select.dataset.current = user.role;
    return select;
  }

  function userRow(user) {
    const self = user.username === me;
    return el("tr", {"data-user": user.username},
      el("td", {class: "text-break fw-semibold"}, user.username,
        self ? el("span", {class: "badge text-bg-light ms-1"}, "you") : null),
      el("td", {}, roleSelect(user)),
      el("td", {}, user.disabled ? el("span", {class: "badge text-bg-secondary"}, "disabled")
                                 : el("span", {class: "badge text-bg-success"}, "active")),
      el("td", {class: "d-none d-md-table-cell small text-nowrap"}, when(user.created_at)),
      el("td", {class: "d-none d-md-table-cell small text-nowrap"}, when(user.last_login_at)),
      el("td", {class: "text-end text-nowrap"},
        el("button", {class: "btn btn-sm btn-outline-secondary me-1", type: "button", "data-bs-toggle": "modal",
                      "data-bs-target": "#password-modal", dataset: {userId: user.id, username: user.username}},
          "Set password"),
        el("button", {class: `btn btn-sm ${user.disabled ? "btn-outline-success" : "btn-outline-danger"}`,
                      type: "button", dataset: {toggleUser: user.id, disabled: user.disabled ? "1" : ""},
                      "data-testid": "user-toggle"},
          user.disabled ? "Enable" : "Disable")));
  }

  async function loadUsers() {
    try {
      const body = await App.api("GET", "/api/users");
      const list = items(body);
      users.total.textContent = String(body.total !== undefined ? body.total : list.length);
      if (!list.length) return rowMessage(users.body, 6, "No users yet.");
      users.body.replaceChildren(...list.map(userRow));
    } catch (err) {
      rowMessage(users.body, 6, `Users unavailable: ${err.message}`);
    }
  }

  async function patchUser(id, change, done) {
    App.hide(users.error);
    App.hide(users.notice);
    try {
      const user = await App.api("PATCH", `/api/users/${encodeURIComponent(id)}`, {json: change});
      App.showMessage(users.notice, done(user), "success");
    } catch (err) {
      App.showMessage(users.error, err.message);
    }
    await loadUsers();
  }

  users.form.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(users.error);
    App.hide(users.notice);
    const username = users.form.elements.namedItem("username").value.trim();
    const password = users.form.elements.namedItem("password").value;
    const role = users.form.elements.namedItem("role").value;
    if (!username || !password) return App.showMessage(users.error, "A new user needs a username and a password.");
    const submit = users.form.querySelector("[data-testid='user-create']");
    App.busy(submit, true, "Creating…");
    try {
      const user = await App.api("POST", "/api/users", {json: {username, password, role}});
      users.form.reset();
      App.showMessage(users.notice, `Created ${user.username} (${user.role}).`, "success");
      await loadUsers();
    } catch (err) {
      App.showMessage(users.error, err.message);
    } finally {
      App.busy(submit, false);
    }
  });

  users.body.addEventListener("change", (e) => {
    const select = e.target.closest("[data-user-role]");
    if (!select || select.value === select.dataset.current) return;
    patchUser(select.dataset.userRole, {role: select.value}, (u) => `${u.username} is now ${u.role}.`);
  });

  users.body.addEventListener("click", (e) => {
    const button = e.target.closest("[data-toggle-user]");
    if (!button) return;
    const disable = !button.dataset.disabled;
    App.busy(button, true, disable ? "Disabling…" : "Enabling…");
    patchUser(button.dataset.toggleUser, {disabled: disable},
      (u) => `${u.username} is ${u.disabled ? "disabled: their sessions and tokens stop working" : "enabled"}.`);
  });

  // The password dialog: Bootstrap opens it; the button that did says for whom
  const modal = document.getElementById("password-modal");
  const passwordForm = document.getElementById("password-form");
  const passwordError = document.getElementById("password-error");
  modal.addEventListener("show.bs.modal", (e) => {
    const button = e.relatedTarget;
    passwordForm.reset();
    App.hide(passwordError);
    passwordForm.dataset.userId = button ? button.dataset.userId : "";
    document.getElementById("password-user").textContent = button ? button.dataset.username : "";
    document.getElementById("password-username").value = button ? button.dataset.username : "";  // for password managers
  });
  modal.addEventListener("shown.bs.modal", () => document.getElementById("password-new").focus());
  passwordForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const password = passwordForm.elements.namedItem("password").value;
    if (!password) return App.showMessage(passwordError, "Type the new password.");
    try {
      const user = await App.api("PATCH", `/api/users/${encodeURIComponent(passwordForm.dataset.userId)}`,
        {json: {password}});
      window.bootstrap.Modal.getOrCreateInstance(modal).hide();
      App.showMessage(users.notice, `New password set for ${user.username}.`, "success");
    } catch (err) {
      App.showMessage(passwordError, err.message);
    }
  });

  // --- tokens ----------------------------------------------------------------------------------------
  const tokens = {
    body: document.getElementById("tokens-body"),
    total: document.getElementById("tokens-total"),
    form: document.getElementById("token-form"),
    error: document.getElementById("token-error"),
  };

  function tokenStatus(token) {
    if (token.revoked_at) return el("span", {class: "badge text-bg-secondary"}, "revoked");
    if (token.expires_at && new Date(token.expires_at) < new Date()) return el("span", {class: "badge text-bg-warning"}, "expired");
    return el("button", {class: "btn btn-sm btn-outline-danger", type: "button", dataset: {revokeToken: token.id},
                         "data-testid": "token-revoke"}, "Revoke");
  }

  function tokenRow(token) {
    const models = token.model_ids && token.model_ids.length ? token.model_ids.map((id) => `#${id}`).join(", ") : "any";
    return el("tr", {"data-token-id": token.id},
      el("td", {class: "text-break"}, el("span", {class: "fw-semibold"}, token.name), " ",
        el("code", {class: "small"}, `${token.prefix}…`)),
      el("td", {class: "text-break"}, token.owner || "—"),
      el("td", {}, (token.scopes || []).map((s) => el("span", {class: "badge text-bg-light me-1"}, s))),
      el("td", {class: "d-none d-lg-table-cell small"}, models),
      el("td", {class: "d-none d-md-table-cell small text-nowrap"}, when(token.created_at)),
      el("td", {class: "d-none d-lg-table-cell small text-nowrap"}, token.expires_at ? when(token.expires_at) : "never"),
      el("td", {class: "d-none d-md-table-cell small text-nowrap"}, token.last_used_at ? when(token.last_used_at) : "never"),
      el("td", {class: "text-end"}, tokenStatus(token)));
  }

  async function loadTokens() {
    try {
      const body = await App.api("GET", "/api/tokens");
      const list = items(body);
      tokens.total.textContent = String(body.total !== undefined ? body.total : list.length);
      if (!list.length) return rowMessage(tokens.body, 8, "No tokens yet.");
      tokens.body.replaceChildren(...list.map(tokenRow));
    } catch (err) {
      rowMessage(tokens.body, 8, `Tokens unavailable: ${err.message}`);
    }
  }

  // The form as the API's body, or a message saying what is wrong with it
  function tokenRequest() {
    const f = tokens.form.elements;
    const name = f.namedItem("name").value.trim();
    const scopes = Array.from(tokens.form.querySelectorAll("input[name='scopes']:checked")).map((b) => b.value);
    const rawModels = f.namedItem("model_ids").value.split(/[\s,]+/).filter(Boolean);
    const days = f.namedItem("expires_in_days").value.trim();
    if (!name) return {problem: "Give the token a name."};
    if (!scopes.length) return {problem: "Choose at least one scope."};
    if (rawModels.some((m) => !/^\d+$/.test(m))) return {problem: "Model ids are whole numbers, separated by commas."};
    if (days && !/^\d+$/.test(days)) return {problem: "The expiry is a whole number of days."};
    const body = {name, scopes};
    if (rawModels.length) body.model_ids = rawModels.map(Number);
    if (days) body.expires_in_days = Number(days);
    return {body};
  }

  tokens.form.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(tokens.error);
    const {body, problem} = tokenRequest();
    if (problem) return App.showMessage(tokens.error, problem);
    const submit = tokens.form.querySelector("[data-testid='token-create']");
    App.busy(submit, true, "Creating…");
    try {
      const created = await App.api("POST", "/api/tokens", {json: body});
      document.getElementById("token-secret").textContent = created.token;
      document.getElementById("token-created").classList.remove("d-none");
      tokens.form.elements.namedItem("name").value = "";
      await loadTokens();
    } catch (err) {
      App.showMessage(tokens.error, err.message);
    } finally {
      App.busy(submit, false);
    }
  });

  tokens.body.addEventListener("click", async (e) => {
    const button = e.target.closest("[data-revoke-token]");
    if (!button) return;
    App.hide(tokens.error);
    App.busy(button, true, "Revoking…");
    try {
      await App.api("DELETE", `/api/tokens/${encodeURIComponent(button.dataset.revokeToken)}`);
    } catch (err) {
      App.showMessage(tokens.error, err.message);
    }
    await loadTokens();
  });

  // --- audit log -------------------------------------------------------------------------------------
  const audit = {
    body: document.getElementById("audit-body"),
    form: document.getElementById("audit-form"),
    error: document.getElementById("audit-error"),
    range: document.getElementById("audit-range"),
    prev: document.getElementById("audit-prev"),
    next: document.getElementById("audit-next"),
    offset: 0,
  };

  function auditRow(event) {
    return el("tr", {},
      el("td", {class: "small text-nowrap", title: event.time || ""}, when(event.time)),
      el("td", {class: "text-break"}, event.actor || "—"),
      el("td", {}, el("code", {class: "small"}, event.action || "")),
      el("td", {class: "text-break small"}, event.object || "—"),
      el("td", {class: "d-none d-md-table-cell small"}, event.client || "—"));
  }

  async function loadAudit() {
    App.hide(audit.error);
    const query = new URLSearchParams({limit: String(AUDIT_PAGE), offset: String(audit.offset)});
    for (const name of ["actor", "action"]) {
      const value = audit.form.elements.namedItem(name).value.trim();
      if (value) query.set(name, value);
    }
    try {
      const list = items(await App.api("GET", `/api/audit?${query}`));
      if (!list.length) rowMessage(audit.body, 5, audit.offset ? "No older events." : "No events match.");
      else audit.body.replaceChildren(...list.map(auditRow));
      audit.range.textContent = list.length ? `events ${audit.offset + 1}–${audit.offset + list.length}` : "";
      audit.prev.disabled = audit.offset === 0;
      audit.next.disabled = list.length < AUDIT_PAGE;
    } catch (err) {
      App.showMessage(audit.error, err.message);
    }
  }

  audit.form.addEventListener("submit", (e) => {
    e.preventDefault();
    audit.offset = 0;
    loadAudit();
  });
  audit.prev.addEventListener("click", () => {
    audit.offset = Math.max(0, audit.offset - AUDIT_PAGE);
    loadAudit();
  });
  audit.next.addEventListener("click", () => {
    audit.offset += AUDIT_PAGE;
    loadAudit();
  });
  document.getElementById("tab-audit").addEventListener("shown.bs.tab", loadAudit);  // fresh each time it opens

  App.ready();
  loadUsers();
  loadTokens();
  loadAudit();
})();
