// Releases: what each firmware release did to engagement, measured on every upgraded device
// against itself (before/after) and against the devices of its type that stayed behind
// (difference-in-differences, GET /v1/releases); and the rollout of one device type's versions
// (GET /v1/rollout). The verdict of a cell uses `significant_holm`.
import { api, addDays, esc, fmt, iso, view } from "./lib.js";
import { PALETTE, legendToggles, lineChart } from "./charts.js";

// [key, title, scale for display, unit]: shares are shown in percent, their changes in points.
export const METRICS = [
  ["active_share", "Active days", 100, "pts"],
  ["breadth", "Core breadth", 100, "pts"],
  ["uses_per_day", "Uses per day", 1, ""],
];
const WINDOW = 14;

// The period of this page: the last 90 days by default, as the API's.
export function range() {
  const end = view.get("end") || iso(new Date());
  return { start: view.get("start") || addDays(end, -89), end };
}

export default {
  name: "releases",
  title: "Releases",
  filters: ["period", "dtype"],
  range,
  async render(main, { stale }) {
    const { start, end } = range();
    const type = view.get("device_type");
    const q = { start, end, device_type: type, window: view.get("window"), metric: view.get("metric"), as_of: view.get("as_of") };
    const [rows, roll] = await Promise.all([api("releases", q), api("rollout", { start, end, device_type: type })]);
    if (stale()) return;
    const shown = METRICS.filter(([m]) => !q.metric || m === q.metric);
    const releases = group(rows);
    main.innerHTML = `
      <section class="panel" id="releases">
        <h2>Firmware releases</h2>
        <p class="sub">Transitions from ${start} to ${end}, each device measured ${esc(q.window || WINDOW)} days before and after its upgrade.
          Bars: the difference-in-differences (change of the upgraded devices minus that of the devices that stayed) with its 95% interval around 0;
          <span class="pill good">helped</span> / <span class="pill bad">hurt</span> when the interval excludes 0 after Holm's correction over every bar shown, else <span class="pill">within noise</span>.</p>
        ${controls(q)}
        <div class="body"></div>
      </section>
      <section class="panel" id="rollout"><h2>Rollout</h2><div class="body"></div></section>`;
    main.querySelector("#release-opts").addEventListener("submit", e => {
      e.preventDefault();
      const f = e.target.elements;
      view.update({ window: f.window.value === String(WINDOW) ? null : f.window.value, metric: f.metric.value || null, as_of: f.as_of.value || null });
    });
    main.querySelector("#release-opts select").addEventListener("change", e => e.target.form.requestSubmit());
    main.querySelector("#releases .body").innerHTML = releases.length
      ? releaseTable(releases, shown)
      : `<p class="empty">No firmware transitions${type ? ` of ${esc(type)}` : ""} from ${start} to ${end}.</p>`;
    drawRollout(main.querySelector("#rollout"), roll, type, releases);
  },
};

function controls(q) {
  const opt = (v, label) => `<option value="${v}" ${(q.metric || "") === v ? "selected" : ""}>${label}</option>`;
  return `<form id="release-opts" class="toolbar">
    <label>Window <input name="window" type="number" min="1" max="60" value="${esc(q.window || WINDOW)}" style="width:4.5rem"> days</label>
    <label>Metric <select name="metric">${opt("", "all three")}${METRICS.map(([m, t]) => opt(m, t)).join("")}</select></label>
    <label>As of <input name="as_of" type="date" value="${esc(q.as_of || "")}" title="transitions whose after-window ends later are pending; default yesterday"></label>
    <button class="small">Apply</button></form>`;
}

// API rows (one per release and metric) -> releases in the API's order, metrics by key.
function group(rows) {
  const out = new Map();
  for (const r of rows) {
    const k = `${r.device_type}\u0000${r.from}\u0000${r.to}`;
    if (!out.has(k)) out.set(k, { device_type: r.device_type, from: r.from, to: r.to, first: r, m: {} });
    out.get(k).m[r.metric] = r;
  }
  return [...out.values()];
}

export const verdict = r => (r?.did === null || r?.did === undefined ? "none" : r.significant_holm ? (r.did > 0 ? "helped" : "hurt") : "noise");
const VERDICT = { helped: ["good", "helped"], hurt: ["bad", "hurt"], noise: ["", "within noise"], none: ["", "not measured"] };

function releaseTable(releases, shown) {
  // One symmetric scale per metric, so bars of one column compare and 0 sits in the middle.
  const span = {};
  for (const [m] of shown) {
    const ends = releases.flatMap(r => [r.m[m]?.did, ...(r.m[m]?.did_ci || [])]).filter(v => v !== null && v !== undefined);
    span[m] = Math.max(1e-9, ...ends.map(Math.abs));
  }
  const head = `<tr><th class="txt">device type</th><th class="txt">release</th><th>transitions</th><th>measured</th><th>pending</th><th title="confounded (another change nearby) · inactive before · no control devices">left out</th>${shown.map(([, t]) => `<th class="txt">${t}</th>`).join("")}</tr>`;
  const body = releases.map(rel => {
    const f = rel.first;
    const cells = shown.map(([m, , scale, unit]) => cell(rel.m[m], m, scale, unit, span[m])).join("");
    return `<tr data-release="${esc(`${rel.device_type} ${rel.from} ${rel.to}`)}">
      <td class="txt">${esc(rel.device_type)}</td><td class="txt"><b>${esc(rel.from)} → ${esc(rel.to)}</b></td>
      <td data-k="transitions" data-v="${f.transitions}">${fmt(f.transitions)}</td><td data-k="measurable" data-v="${f.measurable}">${fmt(f.measurable)}</td>
      <td data-k="pending" data-v="${f.pending}">${fmt(f.pending)}</td>
      <td title="confounded ${f.confounded} · inactive ${f.inactive} · no control ${f.no_control}">${fmt(f.confounded + f.inactive)}${f.no_control ? ` + ${fmt(f.no_control)} no control` : ""}</td>${cells}</tr>`;
  }).join("");
  return `<div class="tablewrap"><table class="data releases"><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

const num = (v, scale, digits) => fmt(v === null || v === undefined ? v : v * scale, digits);
const signed = (v, scale, digits) => (v > 0 ? "+" : "") + num(v, scale, digits);

function cell(r, m, scale, unit, span) {
  if (!r) return `<td class="txt" data-metric="${m}"></td>`;
  const v = verdict(r), [cls, word] = VERDICT[v], digits = scale === 1 ? 2 : 1;
  const pct = scale === 100 ? "%" : "";
  const ci = r.did_ci ? `[${signed(r.did_ci[0], scale, digits)}, ${signed(r.did_ci[1], scale, digits)}]` : "";
  const title = `before ${num(r.pre_mean, scale, digits)}${pct}, after ${num(r.post_mean, scale, digits)}${pct}; change ${signed(r.change, scale, digits)}, devices that stayed ${signed(r.control_change, scale, digits)}`;
  return `<td class="txt did-cell" data-metric="${m}" data-verdict="${v}" data-pre="${r.pre_mean ?? ""}" data-post="${r.post_mean ?? ""}" data-v="${r.did ?? ""}" data-lo="${r.did_ci?.[0] ?? ""}" data-hi="${r.did_ci?.[1] ?? ""}" title="${esc(title)}">
    <div class="ba">${num(r.pre_mean, scale, digits)}${pct} → ${num(r.post_mean, scale, digits)}${pct}</div>
    ${didBar(r, span, v)}
    <div class="ba">${r.did === null ? "–" : `${signed(r.did, scale, digits)} ${unit}`} <small>${ci}</small> <span class="pill ${cls}">${word}</span></div></td>`;
}

// The difference-in-differences and its interval on an axis centred on 0.
function didBar(r, span, v) {
  const W = 170, H = 16, x = d => W / 2 + (d / span) * (W / 2 - 4);
  const color = { helped: "var(--green)", hurt: "var(--red)" }[v] || "#94a3b8";
  const bar = r.did_ci ? `<rect x="${x(r.did_ci[0]).toFixed(1)}" y="4" width="${Math.max(1.5, x(r.did_ci[1]) - x(r.did_ci[0])).toFixed(1)}" height="8" rx="2" fill="${color}" opacity=".35"/>` : "";
  const dot = r.did === null ? "" : `<circle cx="${x(r.did).toFixed(1)}" cy="8" r="4" fill="${color}"/>`;
  return `<svg class="didbar" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="difference-in-differences"><line x1="${W / 2}" x2="${W / 2}" y1="0" y2="${H}" stroke="#475569"/>${bar}${dot}</svg>`;
}

// Share of the type's active devices on each version per day. A day the type was active but a
// version was not counts as 0% for that version; days the type was not active are left out.
export function rolloutSeries(days, type) {
  const mine = days.filter(d => d.device_type === type);
  const dates = [...new Set(mine.map(d => d.day))].sort();
  const versions = [...new Set(mine.map(d => d.firmware))].sort();
  const at = new Map(mine.map(d => [`${d.day} ${d.firmware}`, d.share]));
  return versions.map((fw, i) => ({ name: fw, key: fw, color: PALETTE[i % PALETTE.length], points: dates.map(day => ({ x: day, y: 100 * (at.get(`${day} ${fw}`) ?? 0) })) }));
}

function drawRollout(host, roll, filterType, releases) {
  const types = [...new Set(roll.versions.map(v => v.device_type))].sort();
  const type = filterType || (types.includes(view.get("rollout")) ? view.get("rollout") : releases[0]?.device_type || types[0]);
  const pick = filterType ? "" : `<label class="sub">Device type <select id="rollout-type">${types.map(t => `<option ${t === type ? "selected" : ""}>${esc(t)}</option>`).join("")}</select></label>`;
  const versions = roll.versions.filter(v => v.device_type === type);
  host.dataset.type = type || "";
  host.querySelector(".body").innerHTML = `${pick}
    <p class="sub">share of ${esc(type || "the type")}'s active devices on each version, per day${roll.days.length ? `, ${roll.days[0].day} to ${roll.days[roll.days.length - 1].day}` : ""}</p>
    ${lineChart(rolloutSeries(roll.days, type), { yMax: 100, emptyText: type ? `No active ${type} devices in this period.` : "No devices in this period." })}
    ${versions.length ? `<table class="data versions"><thead><tr><th class="txt">version</th><th class="txt">first seen</th><th class="txt">last seen</th></tr></thead><tbody>${versions.map(v => `<tr data-version="${esc(v.firmware)}"><td class="txt">${esc(v.firmware)}</td><td class="txt" data-k="first_day">${v.first_day}</td><td class="txt" data-k="last_day">${v.last_day}</td></tr>`).join("")}</tbody></table>` : ""}`;
  host.querySelector("#rollout-type")?.addEventListener("change", e => view.update({ rollout: e.target.value }));
  legendToggles(host);
}
