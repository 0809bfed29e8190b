// Dataset page: the new-experiment form, the preview table and the per-column distribution charts.
"use strict";

(() => {
  const form = document.getElementById("experiment-form");
  const target = document.getElementById("target-select");
  const problem = document.getElementById("problem-type");
  const metric = document.getElementById("metric-select");
  const detected = document.getElementById("detected-problem");
  const features = () => Array.from(form.querySelectorAll("input[name='feature_columns']"));
  const errorBox = document.getElementById("experiment-error");

  function effectiveProblem() {
    const hint = target.selectedOptions[0] ? target.selectedOptions[0].dataset.hint : "";
    return problem.value === "auto" ? hint : problem.value;
  }

  function syncMetrics() {
    const pt = effectiveProblem();
    for (const option of metric.options) {
      const fits = !option.dataset.problem || option.dataset.problem === pt;
      option.hidden = !fits;
      option.disabled = !fits;
    }
    if (metric.selectedOptions[0] && metric.selectedOptions[0].disabled) metric.value = "auto";
  }

  function syncFeatures() {
    for (const box of features()) {
      const isTarget = box.value === target.value;
      box.disabled = isTarget;
      if (isTarget) box.checked = false;
      else if (box.dataset.wasTarget) box.checked = true;
      box.dataset.wasTarget = isTarget ? "1" : "";
    }
    const usable = features().filter((b) => !b.disabled);
    document.getElementById("feature-count").textContent =
      `${usable.filter((b) => b.checked).length} of ${usable.length} selected`;
  }

  function syncTarget() {
    const option = target.selectedOptions[0];
    detected.textContent = option ? option.dataset.hint : "—";
    syncFeatures();
    syncMetrics();
  }

  // Untick the columns a finding names (partials/audit_findings.html: data-exclude is a JSON list of names).
  function excludeColumns(button) {
    const names = new Set(JSON.parse(button.dataset.exclude || "[]"));
    for (const box of features()) if (names.has(box.value)) box.checked = false;
    syncFeatures();
    document.getElementById("feature-box").open = true;  // show the feature list the click changed
    button.disabled = true;
    button.textContent = "Excluded";
  }

  function payload() {
    const budget = Number(form.time_budget_s.value);
    const chosen = features().filter((b) => b.checked && !b.disabled).map((b) => b.value);
    return {
      name: form.elements.namedItem("name").value.trim() || `${target.value} · ${form.dataset.datasetName}`,
      dataset_id: Number(form.dataset.datasetId),
      target_column: target.value,
      feature_columns: chosen,
      problem_type: problem.value,
      metric: metric.value,
      time_budget_s: budget,
      holdout: ["auto", "none"].includes(form.holdout.value) ? form.holdout.value : Number(form.holdout.value),
    };
  }

  function invalid(body) {
    if (!body.target_column) return "Choose a target column.";
    if (!body.feature_columns.length) return "Choose at least one feature column.";
    if (!Number.isFinite(body.time_budget_s) || body.time_budget_s < 5) return "The time budget must be at least 5 seconds.";
    return null;
  }

  if (form) {
    target.addEventListener("change", syncTarget);
    problem.addEventListener("change", syncMetrics);
    form.addEventListener("change", (e) => { if (e.target.name === "feature_columns") syncFeatures(); });
    form.addEventListener("click", (e) => {
      const exclude = e.target.closest("[data-exclude]");  // a leakage-audit finding's one-click exclusion
      if (exclude) return excludeColumns(exclude);
      const button = e.target.closest("[data-features]");
      if (!button) return;
      for (const box of features()) if (!box.disabled) box.checked = button.dataset.features === "all";
      syncFeatures();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      App.hide(errorBox);
      const body = payload();
      const problemText = invalid(body);
      if (problemText) return App.showMessage(errorBox, problemText);
      const submit = form.querySelector("[data-testid='start-experiment']");
      App.busy(submit, true, "Starting…");
      try {
        const created = await App.api("POST", "/api/experiments", {json: body});
        window.location.assign(`/experiments/${encodeURIComponent(created.id)}`);
      } catch (err) {
        App.showMessage(errorBox, err.message);
        App.busy(submit, false);
      }
    });
    syncTarget();
  }

  async function loadPreview() {
    const box = document.getElementById("preview");
    if (!box) return;
    const profile = App.readJson("profile-data");
    const names = profile.columns.map((c) => c.name);
    let rows;
    try {
      rows = (await App.api("GET", box.dataset.url)).rows;  // {columns, rows}: automl.schemas.datasets.DatasetPreview
    } catch (err) {
      box.replaceChildren(App.el("p", {class: "p-3 mb-0 text-danger small"}, `Preview unavailable: ${err.message}`));
      return;
    }
    const head = App.el("tr", {}, names.map((n) => App.el("th", {title: n}, n)));
    const body = rows.map((row) => App.el("tr", {}, names.map((n) => {
      const value = row[n];
      const empty = value === null || value === undefined;
      return App.el("td", {class: empty ? "text-body-tertiary" : "", title: empty ? "missing" : String(value)},
        empty ? "∅" : String(value));
    })));
    box.replaceChildren(App.el("table", {class: "table table-sm table-striped mb-0 small preview-table"},
      App.el("thead", {}, head), App.el("tbody", {}, body)));
  }

  const remove = document.getElementById("delete-dataset");  // absent for a role that may not delete
  if (remove) remove.addEventListener("click", async () => {
    if (!window.confirm("Delete this dataset and its files? Its experiments must be deleted or finished first.")) return;
    App.busy(remove, true, "Deleting…");
    try {
      await App.api("DELETE", remove.dataset.url);
      window.location.assign("/");
    } catch (err) {
      App.showMessage(document.getElementById("dataset-error"), err.message);
      App.busy(remove, false);
    }
  });

  App.ready();
  loadPreview();
  const profile = App.readJson("profile-data");
  if (profile && typeof Charts !== "undefined") {
    const shown = Charts.distributions(document.getElementById("distributions"), profile.columns);
    if (!shown) document.getElementById("distributions-empty").classList.remove("d-none");
  }
})();
