// Model page: deploy switches, the prediction form, batch scoring and API keys. Results go in via textContent.
"use strict";

(() => {
  const page = document.getElementById("model-page");
  if (!page) return;
  const modelId = page.dataset.modelId;

  // --- deployment switches ---------------------------------------------------------------------
  const deployError = document.getElementById("deploy-error");
  for (const box of document.querySelectorAll("[data-deploy]")) {
    box.addEventListener("change", async () => {
      const target = box.dataset.deploy;
      const action = box.checked ? "deploy" : "undeploy";
      App.hide(deployError);
      box.disabled = true;
      try {
        const model = await App.api("POST", `/api/models/${modelId}/${action}`, {json: {[target]: true}});
        document.getElementById("deploy-api").checked = Boolean(model.deployed_api);
        document.getElementById("deploy-batch").checked = Boolean(model.deployed_batch);
      } catch (err) {
        box.checked = !box.checked;
        App.showMessage(deployError, err.message);
      } finally {
        box.disabled = false;
      }
    });
  }

  // --- prediction form -----------------------------------------------------------------------------
  const form = document.getElementById("predict-form");
  const result = document.getElementById("prediction-result");
  const predictError = document.getElementById("predict-error");

  function authHeaders() {
    const key = document.getElementById("predict-key");
    return key && key.value.trim() ? {Authorization: `Bearer ${key.value.trim()}`} : {};
  }

  function fieldValue(field) {
    const raw = field.value.trim();
    if (raw === "" || /^(nan|null|none)$/i.test(raw)) return null;
    const kind = field.dataset.kind;
    if (kind === "numeric") {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;  // the API names a wrong type; we do not guess
    }
    if (kind === "boolean" && /^(true|false)$/i.test(raw)) return raw.toLowerCase() === "true";
    return raw;
  }

  function row() {
    const out = {};
    for (const field of form.querySelectorAll("[name]")) out[field.name] = fieldValue(field);
    return out;
  }

  function showResult(prediction, probabilities, explanation, space) {
    const parts = [
      App.el("div", {class: "stat-label"}, "Prediction"),
      App.el("div", {class: "display-6 fw-semibold text-break", "data-testid": "prediction-value"},
        typeof prediction === "number" ? App.fmt(prediction, 6) : String(prediction)),
    ];
    if (probabilities) {
      const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
      parts.push(App.el("div", {class: "stat-label mt-2"}, "Probabilities"));
      for (const [cls, p] of entries) {
        parts.push(App.el("div", {class: "d-flex align-items-center gap-2 small"},
          App.el("span", {class: "text-break", style: "min-width: 6rem"}, cls),
          App.el("div", {class: "proba-bar flex-grow-1"}, App.el("div", {style: `width: ${(100 * p).toFixed(1)}%`})),
          App.el("span", {class: "font-monospace", style: "min-width: 3.5rem; text-align: right"}, `${(100 * p).toFixed(1)}%`)));
      }
    }
    if (explanation && typeof Explain !== "undefined") {
      parts.push(App.el("div", {class: "stat-label mt-3"}, "Why: each column's contribution"),
        Explain.waterfall(explanation, space));
    }
    result.replaceChildren(App.el("div", {class: "border rounded p-3 bg-body-tertiary"}, parts));
    result.classList.remove("d-none");
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(predictError);
    const submit = form.querySelector("[data-testid='predict-submit']");
    App.busy(submit, true, "Predicting…");
    try {
      const wantProba = page.dataset.problemType !== "regression";
      const explainBox = document.getElementById("predict-explain");
      const json = {data: [row()], return_probabilities: wantProba};
      if (explainBox && explainBox.checked) json.explain = true;
      const body = await App.api("POST", `/api/v1/predict/${modelId}`, {json, headers: authHeaders()});
      showResult(body.predictions[0], body.probabilities ? body.probabilities[0] : null,
        body.explanations ? body.explanations[0] : null, body.explanation_space);
    } catch (err) {
      const hint = err.status === 403 ? " Switch on “REST API” under Deployment first." : "";
      App.showMessage(predictError, err.message + hint);
    } finally {
      App.busy(submit, false);
    }
  });

  // --- batch scoring -------------------------------------------------------------------------------
  const batchForm = document.getElementById("batch-form");  // the write-only parts are absent for a viewer
  const batchError = document.getElementById("batch-error");
  if (batchForm) batchForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(batchError);
    const file = batchForm.elements.namedItem("file").files[0];
    if (!file) return App.showMessage(batchError, "Choose a file to score first.");
    const submit = batchForm.querySelector("[data-testid='batch-submit']");
    App.busy(submit, true, "Uploading…");
    const data = new FormData();
    data.append("file", file, file.name);
    try {
      await App.api("POST", `/api/v1/predict/${modelId}/batch`, {form: data, headers: authHeaders()});
      batchForm.reset();
      App.refresh("batch-jobs");
    } catch (err) {
      const hint = err.status === 403 ? " Switch on “Batch scoring” under Deployment first." : "";
      App.showMessage(batchError, err.message + hint);
    } finally {
      App.busy(submit, false);
    }
  });

  // --- API keys --------------------------------------------------------------------------------------
  const keyForm = document.getElementById("key-form");
  const keyError = document.getElementById("key-error");
  if (keyForm) keyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    App.hide(keyError);
    const name = keyForm.elements.namedItem("name").value.trim();
    if (!name) return App.showMessage(keyError, "Give the key a name.");
    try {
      const created = await App.api("POST", "/api/keys", {json: {name}});
      document.getElementById("key-secret").textContent = created.key;
      document.getElementById("key-created").classList.remove("d-none");
      keyForm.reset();
      App.refresh("api-keys");
    } catch (err) {
      App.showMessage(keyError, err.message);
    }
  });
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("[data-revoke-key]");
    if (!button) return;
    App.busy(button, true, "Revoking…");
    try {
      await App.api("DELETE", `/api/keys/${encodeURIComponent(button.dataset.revokeKey)}`);
      App.refresh("api-keys");
    } catch (err) {
      App.showMessage(keyError, err.message);
      App.busy(button, false);
    }
  });

  App.ready();
  // --- diagnostics -------------------------------------------------------------------------------------
  const data = App.readJson("model-data");
  if (data && typeof Charts !== "undefined") Charts.modelPlots(document.getElementById("model-plots"), data);
})();
