// Experiment page: the live fragment (htmx polls it) plus deploy / cancel buttons and the model-detail panel.
"use strict";

(() => {
  const TERMINAL = ["completed", "failed", "cancelled"];
  const errorBox = document.getElementById("action-error");
  const detail = {
    title: document.getElementById("detail-title"),
    link: document.getElementById("detail-link"),
    metrics: document.getElementById("detail-metrics"),
    plots: document.getElementById("detail-plots"),
  };
  let selected = null;

  function live() {
    return document.getElementById("experiment-live");
  }

  function highlight() {
    for (const row of document.querySelectorAll("[data-testid='leaderboard-row']")) {
      row.classList.toggle("table-active-model", row.dataset.modelId === String(selected));
    }
  }

  function tile(name, value) {
    return App.el("div", {class: "col-6 col-md-3 col-xl-2"},
      App.el("div", {class: "border rounded px-2 py-1 bg-body-tertiary h-100"},
        App.el("div", {class: "stat-label text-truncate", title: name}, name),
        App.el("div", {class: "fw-semibold font-monospace"}, value)));
  }

  // Where the figures come from: the leaderboard says (data-evaluation), the tiles repeat it in their names
  function outOfFold() {
    const table = document.querySelector("#experiment-live [data-testid='leaderboard']");
    return Boolean(table) && table.dataset.evaluation === "out_of_fold";
  }

  function metricTiles(model) {
    const spread = model.cv_std === null || model.cv_std === undefined ? "" : ` ± ${App.fmt(model.cv_std)}`;
    const where = outOfFold() ? "out-of-fold" : "holdout";
    const tiles = Object.entries(model.metrics).map(([name, value]) => tile(`${where} ${name}`, App.fmt(value)));
    detail.metrics.replaceChildren(tile(`CV ${model.metric}`, `${App.fmt(model.cv_score)}${spread}`), ...tiles);
  }

  async function showModel(id) {
    selected = id;
    highlight();
    detail.title.textContent = "loading…";
    try {
      const model = await App.api("GET", `/api/models/${encodeURIComponent(id)}`);
      if (selected !== id) return;  // another row was clicked meanwhile
      detail.title.textContent = `${model.algorithm} #${model.id}${model.rank ? ` (rank ${model.rank})` : ""}`;
      detail.link.href = `/models/${encodeURIComponent(model.id)}`;
      detail.link.classList.remove("d-none");
      metricTiles(model);
      Charts.modelPlots(detail.plots, model);
    } catch (err) {
      detail.title.textContent = "unavailable";
      detail.plots.replaceChildren(App.el("p", {class: "text-danger small mb-0"}, err.message));
    }
  }

  // After the run ends (or on a finished page) show the best model without a click
  function autoSelect() {
    const box = live();
    if (!box || selected !== null || !TERMINAL.includes(box.dataset.status)) return highlight();
    const first = box.querySelector("[data-testid='leaderboard-row']");
    if (first) showModel(first.dataset.modelId);
  }

  async function act(button) {
    const id = button.dataset.modelId;
    const action = button.dataset.action;
    App.hide(errorBox);
    try {
      if (action === "details") return showModel(id);
      App.busy(button, true, action === "cancel" ? "Cancelling…" : action === "deploy" ? "Deploying…" : "Undeploying…");
      if (action === "cancel") await App.api("POST", button.dataset.url);
      else if (action === "deploy") await App.api("POST", `/api/models/${id}/deploy`, {json: {api: true, batch: true}});
      else await App.api("POST", `/api/models/${id}/undeploy`, {json: {api: true, batch: true}});
      if (action !== "cancel") {
        button.textContent = action === "deploy" ? "Deployed" : "Undeployed";
      }
      App.refresh("experiment-live");
    } catch (err) {
      App.showMessage(errorBox, err.message);
      App.busy(button, false);
    }
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("#experiment-live [data-action]");
    if (button) act(button);
  });
  document.body.addEventListener("htmx:afterSettle", autoSelect);
  App.ready();
  autoSelect();
})();
