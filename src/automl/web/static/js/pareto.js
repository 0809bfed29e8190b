// Experiment page: the accuracy-latency chart of every candidate as inline SVG. x: predict ms per row (log
// scale), y: CV score (better up, whatever the metric's direction); the Pareto front (no other model is both
// at least as good and cheaper) is drawn as a line through its highlighted points. The points are read from
// the leaderboard rows the server rendered (data-cv, data-ms), redrawn whenever htmx swaps the fragment.
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 300, M = {l: 62, r: 16, t: 14, b: 42};
  const FRONT = "#d63384", OTHER = "#6c757d", GRID = "#e9ecef";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  // Leaderboard order: best CV first, ties cheaper first (automl.engine.leaderboard_key)
  function points(table) {
    return Array.from(table.querySelectorAll("[data-testid='leaderboard-row']")).map((row) => ({
      id: row.dataset.modelId, label: row.dataset.label, cv: Number.parseFloat(row.dataset.cv),
      ms: Number.parseFloat(row.dataset.ms), ensemble: row.dataset.ensemble === "true",
      simplest: row.dataset.simplest === "true",
    })).filter((p) => Number.isFinite(p.cv) && Number.isFinite(p.ms) && p.ms > 0);
  }

  // Walking from the best CV down, a point is on the front when it is cheaper than every point before it
  function front(ranked) {
    const kept = [];
    for (const p of ranked) if (!kept.length || p.ms < kept[kept.length - 1].ms) kept.push(p);
    return kept;
  }

  function scale(lo, hi, from, to) {
    const span = hi - lo || 1;
    return (v) => from + (v - lo) / span * (to - from);
  }

  function yTicks(lo, hi) {
    const step = (hi - lo) / 4 || 1;
    return [0, 1, 2, 3, 4].map((i) => lo + i * step);
  }

  function xTicks(lo, hi) {  // 1, 2 and 5 times the powers of ten inside [lo, hi] (log10 units)
    const ticks = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of [1, 2, 5]) {
        const t = e + Math.log10(m);
        if (t >= lo && t <= hi) ticks.push(t);
      }
    }
    return ticks.length >= 2 ? ticks : [lo, ...ticks, hi];
  }

  function fmtMs(log) {
    const v = 10 ** log;
    return v >= 1 ? v.toPrecision(2).replace(/\.0+$/, "") : v.toPrecision(1);
  }

  function draw(box, table) {
    const all = points(table);
    if (all.length < 1) return box.replaceChildren();
    const maximize = table.dataset.direction !== "minimize";
    const onFront = new Set(front(all).map((p) => p.id));
    const logs = all.map((p) => Math.log10(p.ms)), cvs = all.map((p) => p.cv);
    const pad = (a, b, share) => [a - (b - a || 1) * share, b + (b - a || 1) * share];
    const [x0, x1] = pad(Math.min(...logs), Math.max(...logs), 0.06);
    const [c0, c1] = pad(Math.min(...cvs), Math.max(...cvs), 0.08);
    const x = scale(x0, x1, M.l, W - M.r);
    const y = maximize ? scale(c0, c1, H - M.b, M.t) : scale(c0, c1, M.t, H - M.b);
    const chart = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", height: H, role: "img", class: "pareto-svg",
      "aria-label": `CV ${table.dataset.metric} against predict ms per row for ${all.length} models`});
    for (const t of xTicks(x0, x1)) {
      chart.append(svg("line", {x1: x(t), x2: x(t), y1: M.t, y2: H - M.b, stroke: GRID}),
        svg("text", {x: x(t), y: H - M.b + 16, "text-anchor": "middle", "font-size": 11}, fmtMs(t)));
    }
    for (const t of yTicks(c0, c1)) {
      chart.append(svg("line", {x1: M.l, x2: W - M.r, y1: y(t), y2: y(t), stroke: GRID}),
        svg("text", {x: M.l - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11}, t.toPrecision(4)));
    }
    chart.append(
      svg("text", {x: (M.l + W - M.r) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12}, "predict ms per row (log)"),
      svg("text", {x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle", "font-size": 12,
        transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})`}, `CV ${table.dataset.metric}`));
    const line = all.filter((p) => onFront.has(p.id)).sort((a, b) => a.ms - b.ms)
      .map((p) => `${x(Math.log10(p.ms)).toFixed(1)},${y(p.cv).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", {points: line, fill: "none", stroke: FRONT, "stroke-width": 2,
      "data-testid": "pareto-front"}));
    for (const p of all) {
      const front = onFront.has(p.id);
      chart.append(svg("circle", {cx: x(Math.log10(p.ms)), cy: y(p.cv), r: front ? 6 : 4,
        fill: front ? FRONT : OTHER, "fill-opacity": front ? 1 : 0.6, stroke: p.simplest ? "#212529" : "none",
        "stroke-width": 2, "data-testid": "pareto-point", "data-model-id": p.id, "data-front": front},
        svg("title", {}, `${p.label}${p.ensemble ? " (ensemble)" : ""}: CV ${p.cv}, ${p.ms} ms/row` +
          `${front ? " · on the Pareto front" : ""}${p.simplest ? " · simplest within 1 SE" : ""}`)));
    }
    box.replaceChildren(chart);
  }

  function render() {
    const box = document.getElementById("pareto-chart");
    const table = document.querySelector("#experiment-live [data-testid='leaderboard']");
    if (box && table) draw(box, table);
  }

  document.body.addEventListener("htmx:afterSettle", render);
  render();
})();
