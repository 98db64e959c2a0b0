// Overview: headline PES and components, the PES table per segment, and four charts.
import { api, addDays, daysBetween, esc, fmt, iso, kpi, score, segName, table, view } from "./lib.js";
import { PALETTE, barChart, legendToggles, lifecycleChart, lineChart } from "./charts.js";
import { retentionPanel } from "./retention.js";

const TREND_LINES = 6;  // the PES trend draws the most active segments only, to stay legible
const TREND_METRICS = [["pes", "PES"], ["adoption", "Adoption"], ["stickiness", "Stickiness"], ["growth", "Growth"]];

// The PES period is the chosen range (default: the 30 days to today); charts over time show
// at least the 12 weeks ending with it, so a short period still has a history around it.
export function ranges() {
  const end = view.get("end") || iso(new Date());
  const start = view.get("start") || addDays(end, -29);
  const chartStart = daysBetween(start, end) >= 83 ? start : addDays(end, -83);
  return { start, end, chartStart };
}

export default {
  name: "overview",
  title: "Overview",
  filters: ["period", "analytic", "grouping"],
  async render(main, { stale }) {
    const q = view.query();
    const { start, end, chartStart } = ranges();
    const whole = { ...q, start, end, group_by: "" };
    const length = daysBetween(start, end) + 1;  // the previous period: as long, just before
    const [fleetRow, prevRow, rows, wide, feats, trend, roll, retention] = await Promise.all([
      api("pes", whole),
      api("pes", { ...whole, start: addDays(start, -length), end: addDays(start, -1) }),
      api("pes", { ...q, start, end }),
      api("overview", { ...whole, start: chartStart }),
      api("overview", { ...whole, table: "features" }),
      api("trend", { ...q, start: chartStart, end }),
      // Only the versions' first days are wanted (they span all history): one day of rollout.
      api("rollout", { start: end, end, device_type: q.device_type }).catch(err => ({ versions: [], err })),
      api("retention", { ...q, start: chartStart, end }),
    ]);
    if (stale()) return;
    const f = fleetRow[0], before = prevRow[0] || {};
    const prev = k => ({ v: before[k] });
    const ent = q.entity === "account" ? "accounts" : "devices";
    main.innerHTML = `
      <section id="headline" class="cards">
        ${kpi("PES", score(f?.pes), { v: f?.pes, main: true, key: "pes", prev: prev("pes"), note: `${start} to ${end}` })}
        ${kpi("Adoption", score(f?.adoption), { v: f?.adoption, key: "adoption", prev: prev("adoption"), note: "core features used" })}
        ${kpi("Stickiness", score(f?.stickiness), { v: f?.stickiness, key: "stickiness", prev: prev("stickiness"), note: (q.stickiness || "dau_mau").replace("_", "/").toUpperCase() })}
        ${kpi("Growth", score(f?.growth), { v: f?.growth, key: "growth", prev: prev("growth"), note: `new ${fmt(f?.new)} · recovered ${fmt(f?.recovered)} · dropped ${fmt(f?.dropped)}` })}
        ${kpi(`Active ${ent}`, fmt(f?.active), { v: f?.active, key: "active", prev: prev("active"), digits: 0, note: f?.low_sample ? "low sample" : "in the period" })}
        ${kpi("Quick ratio", fmt(f?.quick_ratio, 2), { v: f?.quick_ratio, key: "quick_ratio", prev: prev("quick_ratio"), digits: 2, note: "(new + recovered) / dropped" })}
      </section>
      <section class="panel" id="pes-table">
        <h2>PES by ${esc(segLabel(view.groupBy()))}</h2>
        <p class="sub">${start} to ${end}. Click a column to sort; <span class="lowmark">low sample</span> rows have fewer active ${ent} than the threshold and are greyed. Tick rows to compare them.</p>
        <div class="toolbar"><button type="button" id="to-compare" class="small" disabled>Compare selected</button></div>
        <div id="pes-rows"></div>
      </section>
      <div class="grid">
        <section class="panel" id="chart-active"><h2>Active ${ent}</h2><p class="sub">DAU, WAU and MAU per day, ${chartStart} to ${end}</p><div class="body"></div></section>
        <section class="panel" id="chart-trend"><h2>${metricTitle()} trend <select id="trend-metric" aria-label="trend metric">${TREND_METRICS.map(([k, t]) => `<option value="${k}" ${k === trendMetric() ? "selected" : ""}>${t}</option>`).join("")}</select></h2>
          <p class="sub">per calendar week${rows.length > 1 ? ", per segment" : ""}; dashed: the day a version was first seen${roll.err ? ` (not available: ${esc(roll.err.message)})` : ""}</p><div class="body"></div></section>
        <section class="panel" id="chart-features"><h2>Adoption per core feature</h2><p class="sub">share of the active ${ent} with the feature in their core set that used it, ${start} to ${end}</p><div class="body"></div></section>
        <section class="panel" id="chart-lifecycle"><h2>New and recovered vs dropped</h2><p class="sub">per calendar week, with the quick ratio</p><div class="body"></div></section>
      </div>
      <section class="panel" id="chart-retention"><h2>Retention by weekly cohort</h2>
        <p class="sub">${ent} first active in a week from ${chartStart} to ${end}, and the share of them active k weeks later; lines pool the cohorts per ${esc(segLabel(view.groupBy()))} (band: 95% interval)</p><div class="body"></div></section>`;

    renderTable(main, rows);
    main.querySelector("#trend-metric").addEventListener("change", e => view.update({ trend: e.target.value === "pes" ? null : e.target.value }));
    const markers = versionMarkers(roll.versions, q.firmware_version);
    const series = wide.series;
    main.querySelector("#chart-active .body").innerHTML = lineChart([
      { name: "MAU", key: "mau", color: PALETTE[3], points: series.map(r => ({ x: r.day, y: r.mau })) },
      { name: "WAU", key: "wau", color: PALETTE[1], points: series.map(r => ({ x: r.day, y: r.wau })) },
      { name: "DAU", key: "dau", color: PALETTE[0], points: series.map(r => ({ x: r.day, y: r.dau })) },
    ], { markers, emptyWhenZero: true, emptyText: `No active ${ent} in this range.` });
    main.querySelector("#chart-trend .body").innerHTML = trendChart(trend, rows, markers);
    main.querySelector("#chart-features .body").innerHTML = barChart(
      feats.filter(r => r.adoption !== null).sort((a, b) => b.adoption - a.adoption)
        .map(r => ({ label: r.feature, v: r.adoption * 100, note: `${fmt(r.users)} of ${fmt(r.eligible)}` })),
      { max: 100, unit: "%", series: "adoption", emptyText: "No core features configured or used in this period." },
    );
    main.querySelector("#chart-lifecycle .body").innerHTML = lifecycleChart(wide.lifecycle);
    retentionPanel(main.querySelector("#chart-retention .body"), retention, view.groupBy(), ent);
    legendToggles(main);
  },
};

function segLabel(groupBy) {
  return groupBy ? groupBy.replaceAll("_", " ").replace(",", " and ") : "whole fleet";
}

function renderTable(main, rows) {
  const gb = view.groupBy().split(",").filter(Boolean);
  const host = main.querySelector("#pes-rows");
  if (!rows.length) { host.innerHTML = `<p class="empty">No activity in this period.</p>`; return; }
  const selected = new Set();
  const key = r => gb.map(k => `${k}:${r[k]}`).join(",");
  const cols = [
    { k: "pick", label: "", txt: true, v: () => null, fmt: (_, r) => `<input type="checkbox" aria-label="select" data-config="${esc(key(r))}">` },
    ...gb.map(k => ({ k, label: k.replace("label:", "").replaceAll("_", " "), txt: true, fmt: (v, r) => esc(v ?? "(none)") + (k === gb[gb.length - 1] && r.low_sample ? `<span class="lowmark" title="fewer active entities than the low-sample threshold">low sample</span>` : "") })),
    { k: "pes", label: "PES", fmt: v => `${score(v)}<span class="bar" style="width:${Math.max(0, v ?? 0) * 0.8}px"></span>` },
    { k: "adoption", label: "adoption", fmt: score }, { k: "stickiness", label: "stickiness", fmt: score }, { k: "growth", label: "growth", fmt: score },
    { k: "active", label: "active" }, { k: "new", label: "new" }, { k: "recovered", label: "recovered" },
    { k: "dropped", label: "dropped" }, { k: "quick_ratio", label: "quick ratio", fmt: v => fmt(v, 2) },
    { k: "dau", label: "DAU" }, { k: "mau", label: "MAU" },
  ];
  table(host, {
    columns: cols, rows, sortParam: "sort", defaultSort: "-pes",
    rowClass: r => (r.low_sample ? "low" : ""),
    rowAttrs: r => `data-segment="${esc(segName(r, view.groupBy()))}" data-low="${r.low_sample}"`,
  });
  const button = main.querySelector("#to-compare");
  host.querySelectorAll("input[type=checkbox]").forEach(cb => cb.addEventListener("change", () => {
    cb.checked ? selected.add(cb.dataset.config) : selected.delete(cb.dataset.config);
    button.disabled = selected.size < 2;
  }));
  button.addEventListener("click", () => {
    const p = view.params(), out = new URLSearchParams();
    for (const k of ["start", "end", "entity", "stickiness", "device_type", "firmware_version", "account_id"]) if (p.get(k)) out.set(k, p.get(k));
    [...selected].slice(0, 6).forEach((c, i) => out.set("abcdef"[i], c));
    history.pushState(null, "", `/compare?${out}`);
    window.dispatchEvent(new Event("pes:navigate"));
  });
}

const trendMetric = () => (TREND_METRICS.some(([k]) => k === view.get("trend")) ? view.get("trend") : "pes");
const metricTitle = () => TREND_METRICS.find(([k]) => k === trendMetric())[1];

// One marker per day on which versions were first seen (all of them, or the filtered firmware).
export function versionMarkers(versions, firmware) {
  const byDay = new Map();
  for (const v of versions) {
    if (firmware && v.firmware !== firmware) continue;
    if (!byDay.has(v.first_day)) byDay.set(v.first_day, []);
    byDay.get(v.first_day).push(`${v.device_type} ${v.firmware}`);
  }
  return [...byDay].sort().map(([x, names]) => ({ x, label: `first seen ${x}: ${names.sort().join(", ")}`, short: names.length > 1 ? `${names.length} versions` : names[0] }));
}

function trendChart(trend, rows, markers) {
  const metric = trendMetric();
  const gb = view.groupBy();
  const top = [...rows].sort((a, b) => b.active - a.active).slice(0, TREND_LINES).map(r => segName(r, gb));
  const bySeg = new Map();
  for (const r of trend) {
    const name = segName(r, gb);
    if (!top.includes(name)) continue;
    if (!bySeg.has(name)) bySeg.set(name, []);
    bySeg.get(name).push({ x: r.period_start, y: r[metric] });
  }
  const series = top.filter(n => bySeg.has(n)).map((name, i) => ({ name, key: name, color: PALETTE[i % PALETTE.length], points: bySeg.get(name) }));
  const note = rows.length > TREND_LINES ? `<p class="sub">The ${TREND_LINES} most active of ${rows.length} segments.</p>` : "";
  return lineChart(series, { yMax: 100, markers }) + note;
}

