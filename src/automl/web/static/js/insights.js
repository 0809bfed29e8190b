// Model page insights: GET /api/models/{id}/insights drawn as inline SVG (SHAP summary, partial dependence,
// calibration, lift/gain) and, for binary models, the decision-threshold slider that prices a cost and saves
// the threshold with the deployment. Text from the data reaches the DOM only through textContent.
"use strict";

(() => {
  const root = document.getElementById("insights");
  if (!root) return;
  const modelId = root.dataset.modelId;
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#0d6efd", "#fd7e14", "#20c997", "#6f42c1", "#d63384", "#198754", "#0dcaf0", "#ffc107"];
  const W = 460, H = 260, M = {left: 52, right: 12, top: 12, bottom: 36};

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function scale(d0, d1, r0, r1) {
    const span = d1 - d0 || 1;
    return (v) => r0 + ((v - d0) / span) * (r1 - r0);
  }

  function extent(values, pad = 0) {
    const v = values.filter((x) => x !== null && Number.isFinite(x));
    if (!v.length) return [0, 1];
    let lo = Math.min(...v), hi = Math.max(...v);
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    const p = (hi - lo) * pad;
    return [lo - p, hi + p];
  }

  // A plot frame: axes with a few ticks, labels; returns the svg and the x/y scales
  function frame({x, y, xLabel, yLabel, xTicks, height = H, left = M.left, yTicks = true}) {
    const s = svg("svg", {viewBox: `0 0 ${W} ${height}`, width: "100%", role: "img", class: "insight-svg"});
    const sx = scale(x[0], x[1], left, W - M.right), sy = scale(y[0], y[1], height - M.bottom, M.top);
    const axis = {stroke: "#adb5bd", "stroke-width": 1};
    s.append(svg("line", {x1: left, y1: height - M.bottom, x2: W - M.right, y2: height - M.bottom, ...axis}));
    s.append(svg("line", {x1: left, y1: M.top, x2: left, y2: height - M.bottom, ...axis}));
    for (let i = 0; i <= (yTicks ? 4 : -1); i++) {
      const v = y[0] + ((y[1] - y[0]) * i) / 4;
      s.append(svg("text", {x: left - 4, y: sy(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#6c757d"},
                   App.fmt(v, 3)));
    }
    const ticks = xTicks || [0, 1, 2, 3, 4].map((i) => ({at: x[0] + ((x[1] - x[0]) * i) / 4}));
    for (const t of ticks) {
      s.append(svg("text", {x: sx(t.at), y: height - M.bottom + 14, "text-anchor": "middle", "font-size": 10,
                            fill: "#6c757d"}, t.label !== undefined ? t.label : App.fmt(t.at, 3)));
    }
    s.append(svg("text", {x: (left + W - M.right) / 2, y: height - 4, "text-anchor": "middle", "font-size": 11},
                 xLabel || ""));
    s.append(svg("text", {x: 12, y: (M.top + height - M.bottom) / 2, "font-size": 11, "text-anchor": "middle",
                          transform: `rotate(-90 12 ${(M.top + height - M.bottom) / 2})`}, yLabel || ""));
    return {s, sx, sy};
  }

  function polyline(s, points, color, extra = {}) {
    const pts = points.filter(([, y]) => y !== null && Number.isFinite(y)).map(([x, y]) => `${x},${y}`);
    s.append(svg("polyline", {points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2, ...extra}));
  }

  function legend(box, names) {
    if (names.length < 2) return;
    box.append(App.el("div", {class: "small d-flex flex-wrap gap-3 mt-1"}, names.map((n, i) => App.el(
      "span", {}, App.el("span", {class: "legend-swatch", style: `background:${COLORS[i % COLORS.length]}`}), n))));
  }

  function note(box, text) {
    box.replaceChildren(App.el("p", {class: "small text-body-secondary mb-0"}, text));
  }

  // --- SHAP summary: one row of dots per column, most influential on top -------------------------
  function valueColor(rank) {  // 0 (low) -> blue, 1 (high) -> red
    const r = Math.round(30 + 200 * rank), b = Math.round(230 - 200 * rank);
    return `rgb(${r},60,${b})`;
  }

  function drawShap(box, shap) {
    if (!shap) { note(box, "This model cannot explain its predictions."); return; }
    const cols = shap.columns.slice(0, 12);
    document.getElementById("shap-note").textContent = `(${shap.explained}, ${shap.n_rows} rows)`;
    const contributions = cols.flatMap((c) => c.points.map((p) => p[1]));
    const rowH = 22, height = M.top + M.bottom + rowH * cols.length, left = 130;
    const lim = Math.max(...extent(contributions).map(Math.abs));
    const {s, sx} = frame({x: [-lim, lim], y: [0, 1], xLabel: "contribution", height, left, yTicks: false});
    s.append(svg("line", {x1: sx(0), x2: sx(0), y1: M.top, y2: height - M.bottom, stroke: "#dee2e6"}));
    cols.forEach((c, i) => {
      const yMid = M.top + rowH * i + rowH / 2;
      const label = c.feature.length > 18 ? `${c.feature.slice(0, 17)}…` : c.feature;
      const name = svg("text", {x: left - 6, y: yMid + 4, "text-anchor": "end", "font-size": 11}, label);
      name.append(svg("title", {}, `${c.feature}: mean |contribution| ${App.fmt(c.mean_abs)}`));
      s.append(name);
      const numbers = c.points.map((p) => p[0]).filter((v) => typeof v === "number").sort((a, b) => a - b);
      c.points.forEach(([value, contribution], j) => {
        if (contribution === null) return;
        const rank = typeof value === "number" && numbers.length > 1
          ? numbers.indexOf(value) / (numbers.length - 1) : null;
        const jitter = (((j * 7919) % 13) / 13 - 0.5) * (rowH - 8);
        s.append(svg("circle", {cx: sx(contribution), cy: yMid + jitter, r: 2.4, "fill-opacity": 0.7,
                                fill: rank === null ? "#868e96" : valueColor(rank)}));
      });
    });
    box.replaceChildren(s);
  }

  // --- partial dependence: a line per output (numeric column) or dots per level (categorical) -------
  function drawDependence(box, entry) {
    const names = Object.keys(entry.average);
    const all = names.flatMap((n) => entry.average[n]);
    const numeric = entry.kind === "numeric";
    const x = numeric ? extent(entry.grid) : [-0.5, entry.grid.length - 0.5];
    const xTicks = numeric ? undefined : entry.grid.map((g, i) => ({at: i, label: g.length > 10 ? `${g.slice(0, 9)}…` : g}));
    const {s, sx, sy} = frame({x, y: extent(all, 0.1), xLabel: entry.feature, yLabel: "average prediction", xTicks});
    names.forEach((name, k) => {
      const color = COLORS[k % COLORS.length];
      const pts = entry.average[name].map((v, i) => [sx(numeric ? entry.grid[i] : i), v === null ? null : sy(v)]);
      if (numeric) polyline(s, pts, color);
      for (const [px, py] of pts) if (py !== null) s.append(svg("circle", {cx: px, cy: py, r: numeric ? 2 : 4, fill: color}));
    });
    box.replaceChildren(s);
    legend(box, names);
  }

  function setupDependence(entries) {
    const box = document.getElementById("partial-dependence");
    const select = document.getElementById("pd-feature");
    if (!entries.length) { note(box, "No column to vary."); select.classList.add("d-none"); return; }
    select.replaceChildren(...entries.map((e, i) => App.el("option", {value: i}, e.feature)));
    select.addEventListener("change", () => drawDependence(box, entries[Number(select.value)]));
    drawDependence(box, entries[0]);
  }

  // --- calibration: observed share against predicted probability per bin ------------------------------
  function drawCalibration(box, cal) {
    document.getElementById("calibration-note").textContent = `(${cal.on}; Brier ${App.fmt(cal.brier, 3)})`;
    const {s, sx, sy} = frame({x: [0, 1], y: [0, 1], xLabel: "predicted", yLabel: "observed"});
    s.append(svg("line", {x1: sx(0), y1: sy(0), x2: sx(1), y2: sy(1), stroke: "#adb5bd", "stroke-dasharray": "4 3"}));
    const most = Math.max(...cal.bins.map((b) => b.count));
    polyline(s, cal.bins.map((b) => [sx(b.predicted), sy(b.observed)]), COLORS[0]);
    for (const b of cal.bins) {
      const dot = svg("circle", {cx: sx(b.predicted), cy: sy(b.observed), r: 2 + 5 * Math.sqrt(b.count / most),
                                 fill: COLORS[0]});
      dot.append(svg("title", {}, `${App.fmt(b.lower)}–${App.fmt(b.upper)}: predicted ${App.fmt(b.predicted)}, ` +
                                  `observed ${App.fmt(b.observed)}, ${b.count} rows`));
      s.append(dot);
    }
    box.replaceChildren(s);
  }

  // --- lift and gain over the rows ranked by prediction --------------------------------------------------
  function drawLift(box, lift) {
    const steps = lift.steps;
    const shares = steps.map((st) => st.share);
    document.getElementById("lift-note").textContent =
      `Rows ranked by ${lift.by}, highest first: the top share's actual mean against all rows' ` +
      `(${App.fmt(lift.overall_mean)}) is the lift; the share of the total it holds is the gain.`;
    const charts = [];
    if (steps.every((st) => st.gain !== null)) {
      const g = frame({x: [0, 1], y: [0, 1], xLabel: "share of rows", yLabel: "gain"});
      g.s.append(svg("line", {x1: g.sx(0), y1: g.sy(0), x2: g.sx(1), y2: g.sy(1), stroke: "#adb5bd",
                              "stroke-dasharray": "4 3"}));
      polyline(g.s, [[g.sx(0), g.sy(0)], ...steps.map((st) => [g.sx(st.share), g.sy(st.gain)])], COLORS[2]);
      charts.push(g.s);
    }
    if (steps.some((st) => st.lift !== null)) {
      const l = frame({x: [0, 1], y: extent([1, ...steps.map((st) => st.lift)], 0.1), xLabel: "share of rows",
                       yLabel: "lift"});
      l.s.append(svg("line", {x1: l.sx(0), y1: l.sy(1), x2: l.sx(1), y2: l.sy(1), stroke: "#adb5bd",
                              "stroke-dasharray": "4 3"}));
      polyline(l.s, steps.map((st, i) => [l.sx(shares[i]), st.lift === null ? null : l.sy(st.lift)]), COLORS[1]);
      charts.push(l.s);
    }
    box.replaceChildren(...charts);
    if (!charts.length) note(box, "No lift: the target's mean is zero.");
  }

  // --- the decision threshold ---------------------------------------------------------------------------
  function setupThreshold(data) {
    const block = document.getElementById("threshold-block");
    if (!block || !data.thresholds) return;
    const t = data.thresholds, positive = String(data.positive_class);
    const slider = document.getElementById("threshold-slider");
    const costFp = document.getElementById("cost-fp"), costFn = document.getElementById("cost-fn");
    const readout = document.getElementById("threshold-readout");
    const saved = document.getElementById("threshold-saved");
    document.getElementById("positive-class").textContent = positive;
    block.classList.remove("d-none");

    const cost = (i) => (Number(costFp.value) || 0) * t.fp[i] + (Number(costFn.value) || 0) * t.fn[i];
    function update() {
      const i = Number(slider.value) - 1;
      document.getElementById("threshold-value").textContent = t.threshold[i].toFixed(2);
      const figures = [
        ["precision", App.fmt(t.precision[i], 3)], ["recall", App.fmt(t.recall[i], 3)],
        ["F1", App.fmt(t.f1[i], 3)], ["accuracy", App.fmt(t.accuracy[i], 3)],
        ["predicted positive", `${App.fmt(100 * t.positive_rate[i], 3)} %`],
        ["TP / FP / FN / TN", `${t.tp[i]} / ${t.fp[i]} / ${t.fn[i]} / ${t.tn[i]}`],
        ["expected cost", `${App.fmt(cost(i), 4)} (${App.fmt(cost(i) / data.n_rows, 3)} per row)`],
      ];
      readout.replaceChildren(...figures.flatMap(([k, v]) => [
        App.el("dt", {class: "col-5 col-md-3 fw-normal text-body-secondary"}, k),
        App.el("dd", {class: "col-7 col-md-3 mb-1", dataset: {figure: k}}, v)]));
      let best = 0;
      for (let j = 1; j < t.threshold.length; j++) if (cost(j) < cost(best)) best = j;
      document.getElementById("threshold-best").textContent =
        `Lowest expected cost on these rows at ${t.threshold[best].toFixed(2)} (${App.fmt(cost(best), 4)}).`;
    }
    function showSaved(value) {
      saved.textContent = value === null || value === ""
        ? "No threshold saved: the model's own rule decides (its out-of-fold threshold, else the most probable class)."
        : `Saved with the deployment: ${positive} when P(${positive}) ≥ ${Number(value)}.`;
    }
    for (const input of [slider, costFp, costFn]) input.addEventListener("input", update);
    const current = root.dataset.threshold;
    slider.value = current ? String(Math.round(Number(current) * 100)) : "50";
    showSaved(current);
    update();

    async function save(value) {
      const error = document.getElementById("threshold-error");
      App.hide(error);
      const api = document.getElementById("deploy-api"), batch = document.getElementById("deploy-batch");
      // the targets as they are: a deployed one is redeployed with the threshold, nothing new is deployed
      const body = {api: Boolean(api && api.checked), batch: Boolean(batch && batch.checked), threshold: value};
      try {
        const model = await App.api("POST", `/api/models/${modelId}/deploy`, {json: body});
        root.dataset.threshold = model.threshold === null ? "" : String(model.threshold);
        showSaved(model.threshold);
      } catch (err) {
        App.showMessage(error, err.message);
      }
    }
    const saveButton = document.getElementById("threshold-save");
    if (saveButton) {
      saveButton.addEventListener("click", async () => {
        App.busy(saveButton, true, "Saving…");
        try { await save(t.threshold[Number(slider.value) - 1]); } finally { App.busy(saveButton, false); }
      });
      document.getElementById("threshold-reset").addEventListener("click", () => save(null));
    }
  }

  function draw(data) {
    document.getElementById("insights-source").textContent =
      `on ${data.n_rows} ${data.source_label} · computed in ${App.fmt(data.seconds, 3)} s`;
    document.getElementById("insights-charts").classList.remove("d-none");
    drawShap(document.getElementById("shap-summary"), data.shap);
    setupDependence(data.partial_dependence);
    if (data.calibration) drawCalibration(document.getElementById("calibration-curve"), data.calibration);
    else document.getElementById("calibration-block").classList.add("d-none");
    if (data.lift) drawLift(document.getElementById("lift-chart"), data.lift);
    else document.getElementById("lift-block").classList.add("d-none");
    setupThreshold(data);
  }

  (async () => {
    const status = document.getElementById("insights-status");
    try {
      const data = await App.api("GET", `/api/models/${modelId}/insights`);
      if (!data.available) { status.textContent = data.reason; return; }
      status.classList.add("d-none");
      draw(data);
    } catch (err) {
      status.classList.add("d-none");
      App.showMessage(document.getElementById("insights-error"), err.message);
    }
  })();
})();
