// The Overview's retention panel (GET /v1/retention): per group, the share of each weekly
// cohort of new entities still active k weeks later, pooled over the cohorts (the API's rows
// with cohort "all") with its 95% Wilson band; and the cohort grid of the largest group.
import { esc, fmt, segName } from "./lib.js";
import { PALETTE, curveChart } from "./charts.js";

export const CURVES = 6;  // like the PES trend: the largest groups only, to stay legible

export function retentionPanel(host, rows, groupBy, ent) {
  const name = r => segName(r, groupBy);
  const pooled = rows.filter(r => r.cohort === "all");
  const size = new Map(pooled.filter(r => r.week === 0).map(r => [name(r), r.entities]));
  const groups = [...size.keys()].sort((a, b) => size.get(b) - size.get(a) || (a < b ? -1 : 1));
  const shown = groups.slice(0, CURVES);
  const series = shown.map((g, i) => ({
    name: `${g} (${fmt(size.get(g))} new)`, key: g, color: PALETTE[i % PALETTE.length],
    points: pooled.filter(r => name(r) === g).sort((a, b) => a.week - b.week)
      .map(r => ({ x: r.week, y: 100 * r.rate, lo: 100 * r.rate_ci[0], hi: 100 * r.rate_ci[1], note: `${fmt(r.retained)} of ${fmt(r.entities)}` })),
  }));
  const note = groups.length > CURVES ? `<p class="sub">The ${CURVES} largest of ${groups.length} groups.</p>` : "";
  host.innerHTML = curveChart(series, { emptyText: `No new ${ent} in this range, so no cohorts.` }) + note + (shown.length ? grid(rows.filter(r => r.cohort !== "all" && name(r) === shown[0]), shown[0], ent) : "");
}

// Cohorts as rows, weeks after them as columns; a cell's shade follows its rate.
function grid(rows, group, ent) {
  const cohorts = [...new Set(rows.map(r => r.cohort))].sort();
  const weeks = Math.max(0, ...rows.map(r => r.week));
  const at = new Map(rows.map(r => [`${r.cohort} ${r.week}`, r]));
  const head = `<tr><th class="txt">cohort</th><th>new ${ent}</th>${Array.from({ length: weeks + 1 }, (_, k) => `<th>w${k}</th>`).join("")}</tr>`;
  const body = cohorts.map(c => `<tr data-cohort="${c}"><td class="txt">${c}</td><td>${fmt(at.get(`${c} 0`)?.entities)}</td>${Array.from({ length: weeks + 1 }, (_, k) => {
    const r = at.get(`${c} ${k}`);
    return r ? `<td data-k="w${k}" data-v="${r.rate}" style="background:rgba(13,148,136,${(0.08 + 0.5 * r.rate).toFixed(2)})" title="${fmt(r.retained)} of ${fmt(r.entities)}">${fmt(100 * r.rate, 0)}%</td>` : `<td data-k="w${k}" data-v=""></td>`;
  }).join("")}</tr>`).join("");
  return `<h3>Cohorts of ${esc(group)}</h3><div class="tablewrap"><table class="data cohorts" data-group="${esc(group)}"><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}
