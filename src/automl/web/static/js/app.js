// Shared helpers. User-supplied text only ever reaches the DOM through textContent / attributes.
"use strict";

const App = (() => {
  // el("td", {class: "x", dataset: {id: 1}}, "text", childNode) -> element; strings become text nodes
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // FastAPI errors are {"detail": "..."} or {"detail": [{loc, msg}, ...]}
  function errorText(detail, status) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return (where ? where + ": " : "") + (d.msg || JSON.stringify(d));
      }).join("; ");
    }
    if (detail && typeof detail === "object") return detail.message || JSON.stringify(detail);
    return status ? `The server answered ${status}.` : "Something went wrong.";
  }

  // The session's CSRF token (cookie automl_csrf, readable by scripts on purpose); every request that changes
  // state carries it as X-CSRF-Token. Without a session (authentication off) there is no cookie and no header.
  const SAFE_METHODS = ["GET", "HEAD", "OPTIONS", "TRACE"];
  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === "automl_csrf") return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  function csrfHeaders(method) {
    const token = csrfToken();
    return token && !SAFE_METHODS.includes(String(method || "GET").toUpperCase()) ? {"X-CSRF-Token": token} : {};
  }

  // htmx requests (fragments) carry it too, should one ever change state
  document.addEventListener("htmx:configRequest", (event) => {
    Object.assign(event.detail.headers, csrfHeaders(event.detail.verb));
  });

  async function api(method, url, {json, form, headers} = {}) {
    const init = {method, headers: {Accept: "application/json", ...csrfHeaders(method), ...(headers || {})},
                  credentials: "same-origin"};
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form) {
      init.body = form;
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (err) {
      throw new Error("Could not reach the server. Is it still running?");
    }
    const text = await resp.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (err) { body = null; }
    if (!resp.ok) {
      const error = new Error(errorText(body && body.detail, resp.status));
      error.status = resp.status;
      throw error;
    }
    return body;
  }

  function showMessage(box, message, kind = "danger") {
    if (!box) return;
    box.className = `alert alert-${kind}`;
    box.textContent = message;
    box.classList.remove("d-none");
  }

  function hide(box) {
    if (box) box.classList.add("d-none");
  }

  function fmt(value, digits = 4) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value !== "number") return String(value);
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value) && Math.abs(value) >= 1000) return value.toLocaleString("en-US");
    return Number(value.toPrecision(digits)).toString();
  }

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // Ask htmx to re-fetch a fragment that listens for the "refresh" event
  function refresh(id) {
    const node = document.getElementById(id);
    if (node && window.htmx) window.htmx.trigger(node, "refresh");
  }

  function busy(button, on, label) {
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      button.disabled = true;
      button.textContent = label || "Working…";
    } else {
      button.disabled = false;
      if (button.dataset.label) button.textContent = button.dataset.label;
    }
  }

  // Copy buttons: <button data-copy="#target-id">
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(source);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });

  // Buttons that only work through a script are rendered disabled (data-needs-js) and enabled here, once the
  // page's script has bound its handlers: a quick click can never fall through to a plain form submission.
  function ready(root = document) {
    for (const node of root.querySelectorAll("[data-needs-js]")) node.disabled = false;
  }

  // A `next` address from the query string, followed only when it stays on this site: one leading "/", no
  // scheme or host, no backslash (browsers read "/\\evil" as "//evil").
  function safeNext(value) {
    if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) return "/";
    if (/[\\\u0000-\u001f]/.test(value)) return "/";
    try {
      const url = new URL(value, window.location.origin);
      return url.origin === window.location.origin ? url.pathname + url.search + url.hash : "/";
    } catch (err) {
      return "/";
    }
  }

  // The navbar's sign-out button (base.html, shown for a signed-in session)
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action='logout']");
    if (!button) return;
    event.preventDefault();
    busy(button, true, "Signing out…");
    try {
      await api("POST", "/api/auth/logout");
    } catch (err) {
      if (err.status !== 401) {  // 401: the session was already over; either way it is gone
        busy(button, false);
        window.alert(err.message);
        return;
      }
    }
    window.location.assign("/login");
  });

  return {el, api, errorText, showMessage, hide, fmt, readJson, refresh, busy, ready, csrfHeaders, safeNext};
})();
