// Small SVG charts, drawn by hand (no library, works offline; why not a library: docs/dashboard.md).
// Every mark carries its plotted number in data-v (and what it is in data-series / data-x), so
// tests and people can read it; its aria-label is what the tooltip says.
import { esc, fmt, raw } from "./lib.js";

export const PALETTE = ["#2563eb", "#0d9488", "#d97706", "#7c3aed", "#dc2626", "#16a34a", "#db2777", "#0891b2"];
const W = 640, H = 240, M = { l: 44, r: 16, t: 12, b: 28 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v)), n = v / p;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
}
const ticks = (lo, hi, n = 5) => Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
const dayNum = s => Date.parse(`${s}T00:00:00Z`) / 86400000;
const short = s => new Date(`${s}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });

function yAxis(lo, hi, y, fmtTick = v => fmt(v, hi - lo < 5 ? 1 : 0)) {  // no "1, 1, 1, 0" ticks
  return `<g class="grid">${ticks(lo, hi).map(t => `<line x1="${M.l}" x2="${W - M.r}" y1="${y(t)}" y2="${y(t)}"/>
    <text x="${M.l - 6}" y="${y(t) + 4}" text-anchor="end">${fmtTick(t)}</text>`).join("")}</g>`;
}

// items: [name, color, key?]; an item with a key names a series that legendToggles can hide.
export function legend(items) {
  return `<div class="legend">${items.map(([name, color, key]) => `<span${key === undefined ? "" : ` class="toggle" data-series="${esc(key)}" title="click: hide or show; hover: highlight"`}><i style="background:${color}"></i>${esc(name)}</span>`).join("")}</div>`;
}

// Legends drawn by lineChart / curveChart under `root`: hovering an item highlights its series,
// clicking hides or shows it (not kept in the URL: a look, not a view).
export function legendToggles(root) {
  for (const item of root.querySelectorAll(".legend .toggle")) {
    const svg = item.parentElement.previousElementSibling;
    if (!svg) continue;
    const mine = () => [...svg.querySelectorAll("g.series")].filter(g => g.dataset.series === item.dataset.series);
    item.addEventListener("click", () => {
      item.classList.toggle("off");
      mine().forEach(g => g.classList.toggle("hidden", item.classList.contains("off")));
    });
    item.addEventListener("mouseenter", () => { svg.classList.add("focus"); mine().forEach(g => g.classList.add("hot")); });
    item.addEventListener("mouseleave", () => { svg.classList.remove("focus"); mine().forEach(g => g.classList.remove("hot")); });
  }
}

// The axis top ignores one outlier, e.g. the start of history when every entity is new: a
// largest value more than twice the next is drawn clipped at the top, with its number.
function robustMax(values) {
  const s = values.filter(v => v !== null && v !== undefined).sort((a, b) => b - a);
  return s.length > 2 && s[1] > 0 && s[0] > 2 * s[1] ? s[1] : s[0] ?? 0;
}

const empty = msg => `<p class="empty">${esc(msg)}</p>`;

// series: [{name, key, color, points: [{x: "YYYY-MM-DD", y}]}]; markers: [{x: "YYYY-MM-DD", label}]
// drawn as dashed vertical lines (those outside the x range are left out).
// emptyWhenZero: a chart of counts that are all 0 says so instead of drawing a flat line.
export function lineChart(series, { yMax, yFmt, markers = [], emptyWhenZero = false, emptyText = "No data in this range." } = {}) {
  const pts = series.flatMap(s => s.points.filter(p => p.y !== null && p.y !== undefined));
  if (!pts.length || (emptyWhenZero && pts.every(p => p.y === 0))) return empty(emptyText);
  const xs = series.flatMap(s => s.points.map(p => dayNum(p.x)));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const top = yMax ?? niceMax(Math.max(...pts.map(p => p.y)));
  const x = d => M.l + ((dayNum(d) - x0) / (x1 - x0)) * (W - M.l - M.r);
  const y = v => H - M.b - (v / top) * (H - M.t - M.b);
  const labels = ticks(x0, x1, 4).map(d => {
    const s = new Date(Math.round(d) * 86400000).toISOString().slice(0, 10);
    return `<text x="${x(s)}" y="${H - 8}" text-anchor="middle">${short(s)}</text>`;
  }).join("");
  const lines = series.map(s => {
    const ok = s.points.filter(p => p.y !== null && p.y !== undefined);
    const path = ok.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join("");
    const dots = ok.map(p => `<circle class="mark" r="${ok.length > 40 ? 1.6 : 3}" cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" fill="${s.color}" data-series="${esc(s.key ?? s.name)}" data-x="${p.x}" data-v="${raw(p.y)}" aria-label="${esc(s.name)}, ${short(p.x)}: ${fmt(p.y)}"></circle>`).join("");
    return `<g class="series" data-series="${esc(s.key ?? s.name)}"><path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}</g>`;
  }).join("");
  let lastText = -Infinity;  // a marker too close to the previous one keeps its line, not its text
  const rules = markers.filter(m => dayNum(m.x) >= x0 && dayNum(m.x) <= x1).map(m => {
    const at = x(m.x), text = at - lastText > 70 ? `<text x="${(at + 3).toFixed(1)}" y="${M.t + 8}">${esc(m.short || m.label)}</text>` : "";
    if (text) lastText = at;
    return `<g class="vmark" data-x="${m.x}" data-label="${esc(m.label)}"><line x1="${at.toFixed(1)}" x2="${at.toFixed(1)}" y1="${M.t}" y2="${H - M.b}" stroke="#64748b" stroke-dasharray="3 3"/>${text}<title>${esc(m.label)}</title></g>`;
  }).join("");
  return `<svg class="chart line" viewBox="0 0 ${W} ${H}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${yAxis(0, top, y, yFmt)}${labels}${rules}${lines}</svg>` +
    legend(series.map(s => [s.name, s.color, s.key ?? s.name]));
}

// bars: [{label, v, note}] drawn horizontally against `max`.
export function barChart(bars, { max, unit = "", color = PALETTE[1], series = "bar", emptyText = "No data." } = {}) {
  if (!bars.length) return empty(emptyText);
  const top = max ?? niceMax(Math.max(...bars.map(b => b.v || 0)));
  const row = 24, lw = 150, h = bars.length * row + 8, digits = unit === "%" ? 1 : undefined;
  const room = bars.some(b => b.note) ? 130 : 60;  // right of the longest bar: its value (and note)
  const x = v => lw + (v / top) * (W - lw - room);
  const marks = bars.map((b, i) => `<g><text class="label" x="${lw - 8}" y="${i * row + 17}" text-anchor="end">${esc(b.label)}</text>
    <rect class="mark" x="${lw}" y="${i * row + 5}" width="${Math.max(0, x(b.v || 0) - lw).toFixed(1)}" height="${row - 8}" rx="2" fill="${b.color || color}" data-series="${esc(series)}" data-x="${esc(b.label)}" data-v="${raw(b.v)}" aria-label="${esc(b.label)}: ${fmt(b.v, digits)}${unit}"></rect>
    <text x="${x(b.v || 0) + 6}" y="${i * row + 17}">${fmt(b.v, digits)}${unit}${b.note ? ` · ${esc(b.note)}` : ""}</text></g>`).join("");
  return `<svg class="chart bars" viewBox="0 0 ${W} ${h}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${marks}</svg>`;
}

// Lifecycle per period: new and recovered stacked up, dropped down; the quick ratio as a line
// on its own axis (right).
export function lifecycleChart(rows) {
  if (!rows.length) return empty("No periods in this range.");
  const up = Math.max(1, robustMax(rows.map(r => r.new + r.recovered))), down = Math.max(1, robustMax(rows.map(r => r.dropped)));
  const span = niceMax(Math.max(up, down));
  const mid = M.t + (H - M.t - M.b) / 2, half = (H - M.t - M.b) / 2;
  const yv = v => mid - (Math.min(v, span) / span) * half;  // clipped at the axis' ends
  const qrs = rows.map(r => r.quick_ratio).filter(v => v !== null && v !== undefined);
  const qTop = niceMax(Math.max(1, robustMax(qrs)));
  const yq = v => H - M.b - (Math.min(v, qTop) / qTop) * (H - M.t - M.b);
  const step = (W - M.l - M.r - 30) / rows.length, bw = Math.min(34, step * 0.6);
  const cx = i => M.l + step * i + step / 2;
  const every = Math.ceil(rows.length / 7);  // labels that do not overlap
  const labelled = step >= 36;  // few weeks: each bar's number (up: new + recovered; down: dropped)
  const marks = rows.map((r, i) => {
    const p = r.period_start, x0 = cx(i) - bw / 2;
    const rect = (series, v, yTop, hgt, color) => `<rect class="mark" x="${x0.toFixed(1)}" y="${yTop.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0, hgt).toFixed(1)}" fill="${color}" data-series="${series}" data-x="${p}" data-v="${v}" aria-label="${series}, week of ${short(p)}: ${fmt(v)}"></rect>`;
    return rect("new", r.new, yv(r.new), yv(0) - yv(r.new), PALETTE[0]) +
      rect("recovered", r.recovered, yv(r.new + r.recovered), yv(0) - yv(r.recovered), PALETTE[1]) +
      rect("dropped", r.dropped, yv(0), yv(0) - yv(r.dropped) , PALETTE[4]) +
      (r.new + r.recovered > span ? `<text class="clipped" x="${cx(i)}" y="${M.t - 2}" text-anchor="middle">↑${fmt(r.new + r.recovered)}</text>` : "") +
      (r.dropped > span ? `<text class="clipped" x="${cx(i)}" y="${H - M.b - 2}" text-anchor="middle">↓${fmt(r.dropped)}</text>` : "") +
      (labelled && r.new + r.recovered <= span ? `<text class="vlabel" data-series="up" data-x="${p}" x="${cx(i)}" y="${(yv(r.new + r.recovered) - 3).toFixed(1)}" text-anchor="middle">${fmt(r.new + r.recovered)}</text>` : "") +
      (labelled && r.dropped && r.dropped <= span ? `<text class="vlabel" data-series="dropped" data-x="${p}" x="${cx(i)}" y="${(yv(-r.dropped) + 10).toFixed(1)}" text-anchor="middle">${fmt(r.dropped)}</text>` : "") +
      (i % every ? "" : `<text x="${cx(i)}" y="${H - 8}" text-anchor="middle">${short(p)}</text>`);
  }).join("");
  const ok = rows.map((r, i) => [r, i]).filter(([r]) => r.quick_ratio !== null && r.quick_ratio !== undefined);
  const path = ok.map(([r, i], k) => `${k ? "L" : "M"}${cx(i).toFixed(1)},${yq(r.quick_ratio).toFixed(1)}`).join("");
  const clippedQ = ok.filter(([r]) => r.quick_ratio > qTop).map(([r, i]) => `<text class="clipped" x="${cx(i) + 6}" y="${M.t + 4}">${fmt(r.quick_ratio, 2)}</text>`).join("");
  const dots = clippedQ + ok.map(([r, i]) => `<circle class="mark" r="3.5" cx="${cx(i).toFixed(1)}" cy="${yq(r.quick_ratio).toFixed(1)}" fill="#0f172a" data-series="quick_ratio" data-x="${r.period_start}" data-v="${r.quick_ratio}" aria-label="quick ratio, week of ${short(r.period_start)}: ${fmt(r.quick_ratio, 2)}"></circle>`).join("");
  const right = ticks(0, qTop).map(t => `<text x="${W - M.r + 4}" y="${yq(t) + 4}">${fmt(t, 1)}</text>`).join("");
  const axis = [span, span / 2, 0, -span / 2, -span].map(t => `<line x1="${M.l}" x2="${W - M.r - 20}" y1="${yv(t)}" y2="${yv(t)}" stroke="${t === 0 ? "#94a3b8" : "#e2e8f0"}"/><text x="${M.l - 6}" y="${yv(t) + 4}" text-anchor="end">${fmt(Math.abs(t), 0)}</text>`).join("");
  return `<svg class="chart lifecycle" viewBox="0 0 ${W + 20} ${H}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${axis}${marks}<path d="${path}" fill="none" stroke="#0f172a" stroke-width="1.5" stroke-dasharray="4 3"/>${dots}${right}</svg>` +
    legend([["new", PALETTE[0]], ["recovered", PALETTE[1]], ["dropped (down)", PALETTE[4]], ["quick ratio (right axis)", "#0f172a"]]);
}

// Values with 95% intervals, one row per item: a dot at the value, a whisker from lo to hi.
// items: [{label, v, lo, hi, color, attrs}]
export function errorBars(items, { lo = 0, hi = 100, zero = null, metric = "" } = {}) {
  if (!items.length) return empty("Nothing to compare.");
  const W = 420, row = 30, lw = 130, h = items.length * row + 26;  // narrow: panels sit 2-3 abreast
  const x = v => lw + ((v - lo) / (hi - lo)) * (W - lw - 20);
  const grid = ticks(lo, hi).map(t => `<line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${h - 18}" stroke="${t === zero ? "#94a3b8" : "#e2e8f0"}"/><text x="${x(t)}" y="${h - 4}" text-anchor="middle">${fmt(t, 0)}</text>`).join("");
  const marks = items.map((it, i) => {
    const cy = i * row + 16;
    const whisker = it.lo === null || it.lo === undefined ? "" : `<line class="ci" x1="${x(it.lo)}" x2="${x(it.hi)}" y1="${cy}" y2="${cy}" stroke="${it.color}" stroke-width="2"/>
      <line x1="${x(it.lo)}" x2="${x(it.lo)}" y1="${cy - 6}" y2="${cy + 6}" stroke="${it.color}" stroke-width="2"/><line x1="${x(it.hi)}" x2="${x(it.hi)}" y1="${cy - 6}" y2="${cy + 6}" stroke="${it.color}" stroke-width="2"/>`;
    const dot = it.v === null || it.v === undefined ? "" : `<circle class="mark" cx="${x(it.v)}" cy="${cy}" r="5" fill="${it.color}" data-metric="${esc(metric)}" data-v="${raw(it.v)}" data-lo="${raw(it.lo)}" data-hi="${raw(it.hi)}" ${it.attrs || ""} aria-label="${esc(it.label)}: ${fmt(it.v)} [${fmt(it.lo)}, ${fmt(it.hi)}]"></circle>`;
    const label = it.v === null || it.v === undefined ? "" : `<text class="vlabel" x="${x(it.v).toFixed(1)}" y="${cy - 8}" text-anchor="middle">${fmt(it.v, 1)}</text>`;
    return `<text class="label" x="${lw - 10}" y="${cy + 4}" text-anchor="end">${esc(it.label)}</text>${whisker}${dot}${label}`;
  }).join("");
  return `<svg class="chart errorbars" viewBox="0 0 ${W} ${h}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${grid}${marks}</svg>`;
}

// Daily columns (an entity's activity), height = value; inactive days drawn as a faint tick.
export function dayColumns(days, { key = "v", color = PALETTE[0], series = "uses" } = {}) {
  if (!days.length) return empty("No days.");
  const top = niceMax(Math.max(1, ...days.map(d => d[key])));
  const step = (W - M.l - M.r) / days.length, bw = Math.max(1, step * 0.7);
  const y = v => H - M.b - (v / top) * (H - M.t - M.b);
  const cols = days.map((d, i) => `<rect class="mark" x="${(M.l + i * step).toFixed(1)}" y="${y(d[key]).toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(d.active ? 1.5 : 0, y(0) - y(d[key])).toFixed(1)}" fill="${d.active ? color : "#cbd5e1"}" data-series="${series}" data-x="${d.day}" data-v="${d[key]}" data-active="${d.active}" aria-label="${short(d.day)}: ${d[key]} ${series}${d.active ? "" : " (inactive)"}"></rect>`).join("");
  const first = days[0].day, last = days[days.length - 1].day;
  return `<svg class="chart days" viewBox="0 0 ${W} ${H}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${yAxis(0, top, y)}${cols}
    <text x="${M.l}" y="${H - 8}">${short(first)}</text><text x="${W - M.r}" y="${H - 8}" text-anchor="end">${short(last)}</text></svg>`;
}

// One horizontal stacked bar of parts [{label, v, color}].
export function stackBar(parts) {
  const total = parts.reduce((s, p) => s + p.v, 0);
  if (!total) return empty("No devices yet.");
  let at = 0;
  const segs = parts.map(p => {
    const w = (p.v / total) * (W - 2), x0 = 1 + at; at += w;
    return `<rect class="mark" x="${x0.toFixed(1)}" y="4" width="${w.toFixed(1)}" height="26" fill="${p.color}" data-series="${esc(p.label)}" data-v="${p.v}" aria-label="${esc(p.label)}: ${fmt(p.v)}"></rect>`;
  }).join("");
  return `<svg class="chart stack" viewBox="0 0 ${W} 34" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${segs}</svg>` + legend(parts.map(p => [`${p.label} ${fmt(p.v)}`, p.color]));
}

// A rate over the last minutes: points [{ago_s, rate}], newest last; x runs from past to now.
export function rateLine(points) {
  if (!points.length) return empty("Measuring…");
  const span = Math.max(60, ...points.map(p => p.ago_s));
  const top = niceMax(Math.max(...points.map(p => p.rate)));
  const h = 160;
  const x = ago => M.l + (1 - ago / span) * (W - M.l - M.r);
  const y = v => h - M.b - (v / top) * (h - M.t - M.b);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.ago_s).toFixed(1)},${y(p.rate).toFixed(1)}`).join("");
  const dots = points.map(p => `<circle class="mark" r="2.5" cx="${x(p.ago_s).toFixed(1)}" cy="${y(p.rate).toFixed(1)}" fill="${PALETTE[0]}" data-series="rate" data-x="${p.ago_s}" data-v="${p.rate}" aria-label="${fmt(p.rate)}/s, ${Math.round(p.ago_s)} s ago"></circle>`).join("");
  const grid = ticks(0, top).map(t => `<line x1="${M.l}" x2="${W - M.r}" y1="${y(t)}" y2="${y(t)}" stroke="#e2e8f0"/><text x="${M.l - 6}" y="${y(t) + 4}" text-anchor="end">${fmt(t, 1)}</text>`).join("");
  return `<svg class="chart rate" viewBox="0 0 ${W} ${h}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${grid}<path d="${path}" fill="none" stroke="${PALETTE[0]}" stroke-width="2"/>${dots}
    <text x="${M.l}" y="${h - 8}">${Math.round(span)} s ago</text><text x="${W - M.r}" y="${h - 8}" text-anchor="end">now</text></svg>`;
}

// Curves over a whole-number x (weeks after a cohort's), y in percent, each point with a 95%
// interval drawn as a shaded band. series: [{name, key, color, points: [{x, y, lo, hi}]}]
export function curveChart(series, { xLabel = "week", emptyText = "No data." } = {}) {
  const pts = series.flatMap(s => s.points);
  if (!pts.length) return empty(emptyText);
  const xMax = Math.max(1, ...pts.map(p => p.x));
  const x = k => M.l + (k / xMax) * (W - M.l - M.r);
  const y = v => H - M.b - (v / 100) * (H - M.t - M.b);
  const every = Math.ceil((xMax + 1) / 13);
  const labels = Array.from({ length: xMax + 1 }, (_, k) => k).filter(k => k % every === 0)
    .map(k => `<text x="${x(k).toFixed(1)}" y="${H - 8}" text-anchor="middle">${xLabel} ${k}</text>`).join("");
  const curves = series.map(s => {
    const band = s.points.map(p => `${x(p.x).toFixed(1)},${y(p.hi).toFixed(1)}`).concat([...s.points].reverse().map(p => `${x(p.x).toFixed(1)},${y(p.lo).toFixed(1)}`)).join(" ");
    const path = s.points.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join("");
    const dots = s.points.map(p => `<circle class="mark" r="3" cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" fill="${s.color}" data-series="${esc(s.key ?? s.name)}" data-x="${p.x}" data-v="${raw(p.y)}" data-lo="${raw(p.lo)}" data-hi="${raw(p.hi)}" aria-label="${esc(s.name)}, ${xLabel} ${p.x}: ${fmt(p.y)}% [${fmt(p.lo)}, ${fmt(p.hi)}]${p.note ? ` · ${esc(p.note)}` : ""}"></circle>`).join("");
    return `<g class="series" data-series="${esc(s.key ?? s.name)}"><polygon points="${band}" fill="${s.color}" opacity=".12"/><path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}</g>`;
  }).join("");
  return `<svg class="chart curves" viewBox="0 0 ${W} ${H}" role="group" tabindex="0" aria-label="chart: arrow keys step through its values">${yAxis(0, 100, y)}${labels}${curves}</svg>` + legend(series.map(s => [s.name, s.color, s.key ?? s.name]));
}

// Tooltips and keyboard steps for every chart, installed once on the document (charts are
// redrawn often; delegation needs no per-chart setup). Hovering a chart shows the nearest
// visible mark's label (series, date, value as the mark's aria-label says it); a focused chart
// steps through its marks with the arrow keys: left/right along a series, up/down across series
// at the same x; Escape hides. The tip is a live region, so screen readers read the value.
export function chartTips(doc = document) {
  const tip = doc.body.appendChild(Object.assign(doc.createElement("div"), { className: "tip", hidden: true }));
  tip.setAttribute("role", "status");
  let cur = null;
  const visible = svg => [...svg.querySelectorAll(".mark")].filter(m => !m.closest("g.hidden"));
  const show = mark => {
    cur?.classList.remove("cur");
    cur = mark;
    if (!mark) { tip.hidden = true; return; }
    mark.classList.add("cur");
    tip.textContent = mark.getAttribute("aria-label");
    tip.dataset.series = mark.dataset.series ?? "";
    tip.dataset.x = mark.dataset.x ?? "";
    tip.dataset.v = mark.dataset.v ?? "";
    tip.hidden = false;
    const r = mark.getBoundingClientRect(), w = tip.offsetWidth;
    tip.style.left = `${Math.max(4, Math.min(innerWidth - w - 4, r.left + r.width / 2 - w / 2))}px`;
    tip.style.top = `${r.top - tip.offsetHeight - 6 < 0 ? r.bottom + 6 : r.top - tip.offsetHeight - 6}px`;
  };
  doc.addEventListener("pointermove", e => {
    const svg = e.target.closest?.("svg.chart");
    if (!svg) { if (cur) show(null); return; }
    let best = null, bestD = 24;  // px: farther than this from every mark shows nothing
    for (const m of visible(svg)) {
      const r = m.getBoundingClientRect();
      const d = Math.hypot(Math.max(r.left - e.clientX, 0, e.clientX - r.right), Math.max(r.top - e.clientY, 0, e.clientY - r.bottom));
      if (d < bestD) { best = m; bestD = d; }
    }
    if (best !== cur) show(best);
  });
  doc.addEventListener("keydown", e => {
    const svg = e.target.closest?.("svg.chart");
    if (!svg) return;
    if (e.key === "Escape") { show(null); return; }
    const step = { ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0] }[e.key];
    if (!step) return;
    e.preventDefault();
    const marks = visible(svg), series = [...new Set(marks.map(m => m.dataset.series))];
    const at = cur && svg.contains(cur) ? cur : null;
    if (!at) { show(marks[0] ?? null); return; }
    const s = series.indexOf(at.dataset.series), own = marks.filter(m => m.dataset.series === at.dataset.series);
    if (step[1]) { show(own[Math.max(0, Math.min(own.length - 1, own.indexOf(at) + step[1]))]); return; }
    const other = marks.filter(m => m.dataset.series === series[(s + step[0] + series.length) % series.length]);
    show(other.find(m => m.dataset.x === at.dataset.x) ?? other[Math.min(own.indexOf(at), other.length - 1)] ?? at);
  });
  doc.addEventListener("focusout", e => { if (e.target.closest?.("svg.chart") && cur) show(null); });
  addEventListener("scroll", () => cur && show(null), { passive: true });
  // A page that redraws (Fleet every 5 s, any navigation) takes the hovered mark away: so does the tip.
  new MutationObserver(() => cur && !cur.isConnected && show(null)).observe(doc.body, { childList: true, subtree: true });
}
