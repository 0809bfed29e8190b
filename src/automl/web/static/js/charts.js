// Plotly charts with one look: distributions on the dataset page, model diagnostics elsewhere.
"use strict";

const Charts = (() => {
  const COLORS = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#198754", "#0dcaf0", "#ffc107"];
  const FONT = {family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 12, color: "#343a40"};
  const CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"]};

  // Plotly reads a little HTML in text; user values must show literally, so escape the markup characters
  function label(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // Long category names would eat the plot: shorten the tick, keep the full text for hover
  function short(value, max = 24) {
    const text = String(value);
    return label(text.length > max ? `${text.slice(0, max - 1)}…` : text);
  }

  // Categories are plotted at positions 0..n-1 with shortened tick text, so two long names sharing a prefix
  // never merge into one bar; hover shows the full (escaped) name from customdata.
  function categories(values, max) {
    const full = values.map((v) => label(v === null || v === undefined ? "∅" : v));
    const ticks = values.map((v) => short(v === null || v === undefined ? "∅" : v, max));
    const at = values.map((_, i) => i);
    return {at, full, axis: {tickvals: at, ticktext: ticks, automargin: true}};
  }

  function layout(extra = {}) {
    const axis = {gridcolor: "#e9ecef", zeroline: false, automargin: true};
    return {
      font: FONT, margin: {l: 50, r: 16, t: 36, b: 44}, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", colorway: COLORS, showlegend: false, hoverlabel: {font: FONT},
      ...extra,
      xaxis: {...axis, ...(extra.xaxis || {})},
      yaxis: {...axis, ...(extra.yaxis || {})},
    };
  }

  function title(text) {
    return {text: label(text), font: {size: 13}, x: 0, xanchor: "left", xref: "paper"};
  }

  // Plotly is the page's last deferred script, so forms work before its 4 MB are parsed; plots wait for it.
  // Deferred scripts have all run by DOMContentLoaded, and this one runs before it, so the listener is in time.
  let scriptsDone = false;
  const waiting = [];
  document.addEventListener("DOMContentLoaded", () => {
    scriptsDone = true;
    for (const fn of waiting.splice(0)) fn();
  }, {once: true});

  function whenPlotly(fn) {
    if (window.Plotly || scriptsDone) fn();
    else waiting.push(fn);
  }

  function plot(node, traces, extra) {
    whenPlotly(() => {
      if (window.Plotly && node) window.Plotly.newPlot(node, traces, layout(extra), CONFIG);
    });
  }

  function card(container, heading, {cls = "chart", col = "col-md-6"} = {}) {
    const box = App.el("div", {class: cls});
    container.append(App.el("div", {class: col}, App.el("div", {class: "border rounded p-2 bg-body h-100"},
      App.el("div", {class: "small fw-semibold text-break px-1"}, heading), box)));
    return box;
  }

  // --- dataset distributions: the profile's one shape (automl.schemas.datasets.ColumnProfile) ---------
  // stats.histogram = {edges: [n + 1 numbers], counts: [n integers]} for numbers;
  // stats.top_values = [{value, count}, ...], most frequent first, for everything counted by value.
  function histogram(h) {
    const x = h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
    return {x, y: h.counts, width: h.edges[1] - h.edges[0]};
  }

  function distributions(container, columns) {
    if (!container) return 0;
    let shown = 0;
    for (const col of columns.slice(0, 40)) {
      const {histogram: hist, top_values: top} = col.stats;
      if (!hist && !(top && top.length)) continue;
      const box = card(container, `${col.name} · ${col.kind}`, {cls: "chart-sm", col: "col-sm-6 col-lg-4"});
      const small = {margin: {l: 40, r: 8, t: 6, b: 30}, bargap: 0.05};
      if (hist) {
        const bars = histogram(hist);
        plot(box, [{type: "bar", x: bars.x, y: bars.y, width: bars.width, marker: {color: COLORS[0]},
          hovertemplate: "%{x}: %{y}<extra></extra>"}], small);
      } else {
        const list = top.slice(0, 12).reverse();
        const cats = categories(list.map((p) => p.value), 16);
        plot(box, [{type: "bar", orientation: "h", y: cats.at, x: list.map((p) => p.count),
          customdata: cats.full, marker: {color: COLORS[1]}, hovertemplate: "%{customdata}: %{x}<extra></extra>"}],
          {...small, margin: {l: 8, r: 8, t: 6, b: 30}, yaxis: cats.axis});
      }
      shown += 1;
    }
    return shown;
  }

  // --- model diagnostics -------------------------------------------------------------------------
  function roc(container, data) {
    const auc = data.auc !== undefined ? ` (AUC ${App.fmt(data.auc, 3)})` : "";
    plot(card(container, `ROC curve${auc}`), [
      {type: "scatter", mode: "lines", x: data.fpr, y: data.tpr, line: {color: COLORS[0], width: 2.5},
        fill: "tozeroy", fillcolor: "rgba(13,110,253,.08)", hovertemplate: "FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"},
      {type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], line: {color: "#adb5bd", dash: "dash", width: 1},
        hoverinfo: "skip"},
    ], {xaxis: {title: {text: "False positive rate"}, range: [0, 1]}, yaxis: {title: {text: "True positive rate"}, range: [0, 1.02]}});
  }

  function pr(container, data) {
    plot(card(container, "Precision-recall curve"), [
      {type: "scatter", mode: "lines", x: data.recall, y: data.precision, line: {color: COLORS[3], width: 2.5},
        hovertemplate: "Recall %{x:.3f}<br>Precision %{y:.3f}<extra></extra>"},
    ], {xaxis: {title: {text: "Recall"}, range: [0, 1]}, yaxis: {title: {text: "Precision"}, range: [0, 1.02]}});
  }

  function confusion(container, data) {
    const cats = categories(data.labels, 14);
    const matrix = data.matrix;
    const hover = matrix.map((row, i) => row.map((_, j) => `actual ${cats.full[i]}<br>predicted ${cats.full[j]}`));
    plot(card(container, "Confusion matrix"), [{
      type: "heatmap", x: cats.at, y: cats.at, z: matrix, colorscale: [[0, "#f4f8ff"], [1, "#0d6efd"]],
      showscale: false, text: matrix.map((row) => row.map((v) => String(v))), texttemplate: "%{text}",
      customdata: hover, hovertemplate: "%{customdata}<br>%{z}<extra></extra>",
    }], {xaxis: {...cats.axis, title: {text: "Predicted"}, side: "bottom"},
      yaxis: {...cats.axis, title: {text: "Actual"}, autorange: "reversed"}});
  }

  function residuals(container, data) {
    plot(card(container, "Residuals vs predicted"), [
      {type: "scattergl", mode: "markers", x: data.predicted, y: data.residual,
        marker: {color: COLORS[0], size: 5, opacity: 0.55}, hovertemplate: "pred %{x:.4g}<br>resid %{y:.4g}<extra></extra>"},
    ], {xaxis: {title: {text: "Predicted"}}, yaxis: {title: {text: "Residual"}, zeroline: true, zerolinecolor: "#adb5bd"}});
  }

  function predictedVsActual(container, data) {
    const all = data.actual.concat(data.predicted).filter(Number.isFinite);
    const lo = Math.min(...all), hi = Math.max(...all);
    plot(card(container, "Predicted vs actual"), [
      {type: "scattergl", mode: "markers", x: data.actual, y: data.predicted,
        marker: {color: COLORS[1], size: 5, opacity: 0.55}, hovertemplate: "actual %{x:.4g}<br>pred %{y:.4g}<extra></extra>"},
      {type: "scatter", mode: "lines", x: [lo, hi], y: [lo, hi], line: {color: "#adb5bd", dash: "dash", width: 1}, hoverinfo: "skip"},
    ], {xaxis: {title: {text: "Actual"}}, yaxis: {title: {text: "Predicted"}}});
  }

  function importance(container, items, {top = 20} = {}) {
    const list = items.slice().sort((a, b) => b.importance - a.importance).slice(0, top).reverse();
    if (!list.length) return false;
    // fill the free half of the last row when there is one, else take a whole row
    const col = container.children.length % 2 === 1 ? "col-md-6" : "col-12";
    const box = card(container, `Feature importance (top ${list.length})`, {col});
    box.style.height = `${Math.max(220, 26 * list.length + 70)}px`;
    const cats = categories(list.map((f) => f.feature), 24);
    plot(box, [{type: "bar", orientation: "h", y: cats.at, x: list.map((f) => f.importance), customdata: cats.full,
      marker: {color: COLORS[0]}, hovertemplate: "%{customdata}: %{x:.4g}<extra></extra>"}],
      {margin: {l: 8, r: 16, t: 10, b: 40}, yaxis: cats.axis,
        xaxis: {title: {text: "Importance (drop in score when shuffled)"}}});
    return true;
  }

  function modelPlots(container, model) {
    container.replaceChildren();
    const p = model.plots;  // GET /api/models/{id} and the model page both carry plots and feature_importance
    if (p.roc && p.roc.fpr) roc(container, p.roc);
    if (p.pr && p.pr.recall) pr(container, p.pr);
    if (p.confusion_matrix && p.confusion_matrix.matrix) confusion(container, p.confusion_matrix);
    if (p.predicted_vs_actual && p.predicted_vs_actual.actual) predictedVsActual(container, p.predicted_vs_actual);
    if (p.residuals && p.residuals.predicted) residuals(container, p.residuals);
    importance(container, model.feature_importance);
    if (!container.children.length) {
      container.append(App.el("p", {class: "text-body-secondary small mb-0"}, "No plots were recorded for this model."));
    }
  }

  return {label, plot, distributions, modelPlots};
})();
