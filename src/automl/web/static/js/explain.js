// A prediction's explanation as an inline SVG waterfall: the base value, then each input column's contribution
// (largest |value| first, the top 12, the rest summed as "other"), ending at the prediction or probability.
// Reads the predict route's shape: {base, contributions: {column: value}, class?} and explanation_space.
"use strict";

const Explain = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const TOP = 12;
  const W = 640, ROW = 22, LEFT = 170, RIGHT = 70, TOP_PAD = 8, AXIS = 24;
  const UP = "#d6336c", DOWN = "#1c7ed6", END = "#495057";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(v) {
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(a < 1 ? 4 : 3);
  }

  function signed(v) {
    return (v >= 0 ? "+" : "−") + fmt(Math.abs(v));
  }

  // [{label, value}] of the shown contributions: the TOP largest by |value|, then "other (n)" for the rest
  function steps(contributions) {
    const entries = Object.entries(contributions).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
    const shown = entries.slice(0, TOP).map(([label, value]) => ({label, value}));
    const rest = entries.slice(TOP);
    if (rest.length) {
      shown.push({label: `other (${rest.length} columns)`, value: rest.reduce((s, [, v]) => s + v, 0)});
    }
    return shown;
  }

  function scale(points) {
    let lo = Math.min(...points), hi = Math.max(...points);
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.04;
    lo -= pad; hi += pad;
    return (v) => LEFT + (W - LEFT - RIGHT) * (v - lo) / (hi - lo);
  }

  function label(s, y, text) {
    const shown = text.length > 26 ? text.slice(0, 25) + "…" : text;
    const node = svg("text", {x: LEFT - 6, y: y + ROW / 2 + 4, "text-anchor": "end", "font-size": 11}, shown);
    node.append(svg("title", {}, text));
    s.append(node);
  }

  function bar(s, x0, x1, y, fill, role, text) {
    const left = Math.min(x0, x1), width = Math.max(Math.abs(x1 - x0), 1);
    s.append(svg("rect", {x: left, y: y + 3, width, height: ROW - 6, fill, rx: 2, "data-role": role}));
    s.append(svg("text", {x: Math.max(x0, x1) + 4, y: y + ROW / 2 + 4, "font-size": 10, fill: "#6c757d"}, text));
  }

  // The chart for one row; `space` is "probability" or "prediction"
  function waterfall(explanation, space) {
    const items = steps(explanation.contributions);
    const base = explanation.base;
    const cums = [base];
    for (const it of items) cums.push(cums[cums.length - 1] + it.value);
    const total = cums[cums.length - 1];
    const x = scale(space === "probability" ? [...cums, 0] : cums);
    const height = TOP_PAD + ROW * (items.length + 2) + AXIS;
    const s = svg("svg", {viewBox: `0 0 ${W} ${height}`, width: "100%", role: "img",
      "data-testid": "explanation-waterfall", "data-total": total,
      "aria-label": "Contributions of each column to this prediction"});
    const origin = x(space === "probability" ? 0 : cums.reduce((a, b) => Math.min(a, b)));
    label(s, TOP_PAD, "base value");
    bar(s, origin, x(base), TOP_PAD, END, "base", fmt(base));
    items.forEach((it, i) => {
      const y = TOP_PAD + ROW * (i + 1);
      label(s, y, it.label);
      bar(s, x(cums[i]), x(cums[i + 1]), y, it.value >= 0 ? UP : DOWN, "contribution", signed(it.value));
    });
    const yEnd = TOP_PAD + ROW * (items.length + 1);
    const what = space === "probability" ? `P(${explanation.class})` : "prediction";
    label(s, yEnd, what);
    bar(s, origin, x(total), yEnd, END, "total", fmt(total));
    s.append(svg("line", {x1: x(base), x2: x(base), y1: TOP_PAD, y2: yEnd + ROW, stroke: "#adb5bd",
      "stroke-dasharray": "3 3"}));
    s.append(svg("text", {x: LEFT, y: height - 6, "font-size": 10, fill: "#6c757d"},
      space === "probability" ? "contributions in probability; base + contributions = the probability shown"
        : "base + contributions = the prediction"));
    return s;
  }

  return {waterfall, steps};
})();
