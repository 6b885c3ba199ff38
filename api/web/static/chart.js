// The cumulative PnL chart: one SVG polyline per symbol, drawn by hand.
// Values are parsed to floats here only to place points; every amount
// shown as text comes from the API's decimal strings.

import { money } from "./decimal.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"];

/** color of a symbol: by its place among all symbols, so it is stable. */
export function color(i) {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137.5) % 360} 55% 50%)`;
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

const TIME_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000];

function timeLabel(sec, step, spanDays) {
  const iso = new Date(sec * 1000).toISOString(); // 2025-11-04T14:30:00.000Z
  if (step >= 86400) return iso.slice(5, 10);
  if (spanDays >= 1) return iso.slice(5, 10) + " " + iso.slice(11, 16);
  return iso.slice(11, 16);
}

const axisNumber = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

/**
 * series groups history rows by symbol: per symbol a start at zero (the
 * running sum is zero before its first bucket), one point at the end of
 * each bucket with fills, and the line through them.
 */
export function series(rows, bucketSec) {
  const by = new Map();
  for (const r of rows) {
    const t = Date.parse(r.bucket) / 1000;
    const y = Number(r.cumulative_pnl);
    if (!Number.isFinite(t) || !Number.isFinite(y)) continue;
    if (!by.has(r.symbol)) by.set(r.symbol, { symbol: r.symbol, points: [], first: t, last: "0" });
    const s = by.get(r.symbol);
    s.points.push([t + bucketSec, y, r.cumulative_pnl]);
    s.first = Math.min(s.first, t);
  }
  for (const s of by.values()) {
    s.points.sort((a, b) => a[0] - b[0]);
    s.last = s.points[s.points.length - 1][2];
    s.points.unshift([s.first, 0, "0"]);
    // The line: flat between buckets with fills (only those are
    // returned), moving within a bucket to its end's value.
    s.line = [s.points[0]];
    for (const p of s.points.slice(1)) {
      const prev = s.line[s.line.length - 1];
      if (p[0] - bucketSec > prev[0]) s.line.push([p[0] - bucketSec, prev[1]]);
      s.line.push(p);
    }
  }
  return [...by.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
}

/**
 * draw renders the series into svg (sized to its container) and the legend;
 * colorOf maps a symbol to its color, hidden is the set of symbols the user
 * switched off in the legend.
 */
export function draw(svg, legend, list, { colorOf, hidden, onToggle }) {
  const width = Math.max(280, Math.floor(svg.parentElement.clientWidth));
  const height = width < 600 ? 240 : 320;
  svg.replaceChildren();
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.dataset.series = String(list.length);

  legend.replaceChildren();
  for (const s of list) {
    const li = document.createElement("li");
    li.dataset.symbol = s.symbol;
    li.dataset.value = s.last;
    li.className = hidden.has(s.symbol) ? "off" : "";
    li.title = `${s.symbol}: cumulative ${s.last} (click to hide or show)`;
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.backgroundColor = colorOf(s.symbol);
    const name = document.createElement("span");
    name.textContent = s.symbol;
    const val = document.createElement("span");
    val.className = "legend-value";
    val.textContent = money(s.last);
    li.append(sw, name, val);
    li.addEventListener("click", () => onToggle(s.symbol));
    legend.appendChild(li);
  }

  if (list.length === 0) {
    el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" }, svg).textContent = "no realized PnL yet";
    return;
  }

  let x0 = Infinity, x1 = -Infinity, y0 = 0, y1 = 0;
  for (const s of list) {
    for (const [x, y] of s.points) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      if (!hidden.has(s.symbol)) { y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    }
  }
  if (x1 <= x0) x1 = x0 + 60;
  if (y1 <= y0) { y1 = y0 + 1; }
  const yStep = niceStep(y1 - y0, height < 300 ? 4 : 6);
  y0 = Math.floor(y0 / yStep) * yStep;
  y1 = Math.ceil(y1 / yStep) * yStep;

  const yTicks = [];
  for (let v = y0; v <= y1 + yStep / 2; v += yStep) yTicks.push(Math.abs(v) < yStep / 1e6 ? 0 : v);
  const labelChars = Math.max(...yTicks.map((v) => axisNumber.format(v).length));
  const m = { l: 14 + labelChars * 7, r: 14, t: 22, b: 26 };
  const pw = width - m.l - m.r, ph = height - m.t - m.b;
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y) => m.t + (1 - (y - y0) / (y1 - y0)) * ph;

  const axes = el("g", { class: "axes" }, svg);
  for (const v of yTicks) {
    el("line", { x1: m.l, x2: m.l + pw, y1: Y(v), y2: Y(v), class: v === 0 ? "zero" : "grid" }, axes);
    el("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, axes).textContent = axisNumber.format(v);
  }
  const span = x1 - x0;
  const maxTicks = Math.max(2, Math.floor(pw / 90));
  const tStep = TIME_STEPS.find((s) => span / s <= maxTicks) || TIME_STEPS[TIME_STEPS.length - 1];
  for (let t = Math.ceil(x0 / tStep) * tStep; t <= x1; t += tStep) {
    el("line", { x1: X(t), x2: X(t), y1: m.t + ph, y2: m.t + ph + 4, class: "tick" }, axes);
    // A label at either edge stays inside the chart.
    const anchor = X(t) > width - 30 ? "end" : X(t) < m.l + 20 && X(t) < 30 ? "start" : "middle";
    el("text", { x: X(t), y: m.t + ph + 17, "text-anchor": anchor }, axes).textContent = timeLabel(t, tStep, span / 86400);
  }
  el("line", { x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph, class: "axis" }, axes);
  el("line", { x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph, class: "axis" }, axes);
  el("text", { x: m.l + pw, y: 12, "text-anchor": "end", class: "unit" }, axes).textContent = "USD · UTC";

  const marks = list.reduce((n, s) => n + s.points.length, 0) <= 400;
  for (const s of list) {
    const c = colorOf(s.symbol);
    const g = el("g", { class: "series-group" }, svg);
    if (hidden.has(s.symbol)) g.setAttribute("visibility", "hidden");
    // The running sum holds after the symbol's last fill: carry it on to
    // the chart's right edge.
    const pts = s.line.slice();
    const [lx, ly] = pts[pts.length - 1];
    if (lx < x1) pts.push([x1, ly]);
    el("polyline", {
      class: "series", "data-symbol": s.symbol, "data-points": String(pts.length), stroke: c, fill: "none",
      points: pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" "),
    }, g);
    if (marks) {
      for (const [x, y, raw] of s.points.slice(1)) {
        const dot = el("circle", { cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r: 2.5, fill: c, class: "pt" }, g);
        el("title", {}, dot).textContent = `${s.symbol} ${new Date(x * 1000).toISOString().slice(0, 16).replace("T", " ")}Z: ${money(raw)}`;
      }
    }
  }
}
