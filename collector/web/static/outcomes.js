// The outcomes card of Accounts & devices: does the health score predict renewals and churn?
// (GET /v1/outcomes/report: retention per health band, top quartile against the rest, AUCs,
// configured against suggested weights.) The default lead and period (30 and 30 days) apply.
import { esc, fmt, pct } from "./lib.js";
import { PALETTE, errorBars } from "./charts.js";

const SIGNALS = [["frequency", "frequency"], ["breadth", "breadth"], ["key_actions", "key actions"], ["depth", "depth"]];
const CHANCE = 0.05;  // an AUC within 0.05 of 0.5 is read as "no better than chance"

export function verdict(r, ent) {
  if (!r.n) return "";
  if (r.auc === null || r.auc === undefined) {
    const retained = r.bands.reduce((s, b) => s + b.retained, 0);
    return `Not enough to judge: all ${fmt(r.n)} ${ent} outcomes are ${retained === r.n ? "renewals or expansions" : "churn"}, and the AUC needs both.`;
  }
  const auc = fmt(r.auc, 2);
  if (Math.abs(r.auc - 0.5) < CHANCE) return `Your score does not separate renewals from churn: AUC ${auc}, about chance (0.5).`;
  if (r.auc < 0.5) return `Your score ranks churn above renewals: AUC ${auc}, worse than chance (0.5).`;
  return `Your score separates renewals from churn: AUC ${auc}.`;
}

function weightsHint(w) {
  if (w.cv_auc_suggested === null || w.cv_auc_configured === null) return "";
  const gain = w.cv_auc_suggested - w.cv_auc_configured;
  return gain > 0.01
    ? ` The suggested weights would raise the cross-validated AUC from ${fmt(w.cv_auc_configured, 2)} to ${fmt(w.cv_auc_suggested, 2)}.`
    : ` The suggested weights would not do better (cross-validated AUC ${fmt(w.cv_auc_configured, 2)} now, ${fmt(w.cv_auc_suggested, 2)} suggested).`;
}

export function outcomesCard(host, r, { ent, filtered }) {
  host.dataset.n = r.n;
  if (!r.n) {
    host.innerHTML = `<h2>Does health predict renewals?</h2><p class="empty">${filtered
      ? `No ${ent} outcomes for ${ent}s active with these filters.`
      : `No ${ent} outcomes imported yet: import renewals and churn (<code>pes-collector outcomes import FILE.jsonl</code> or <code>POST /v1/outcomes</code>) and this card checks the health score against them.`}</p>`;
    return;
  }
  const t = r.top_quartile, w = r.weights;
  const bands = r.bands.map((b, i) => ({
    label: `${fmt(b.lo, 0)}–${fmt(b.hi, 0)} · n ${fmt(b.n)}`, v: b.rate === null ? null : b.rate * 100,
    lo: b.rate_ci ? b.rate_ci[0] * 100 : null, hi: b.rate_ci ? b.rate_ci[1] * 100 : null,
    color: PALETTE[1], attrs: `data-band="${i}" data-n="${b.n}"`,
  }));
  const cell = (k, v, text) => `<td data-k="${k}" data-v="${v ?? ""}">${text}</td>`;
  const diff = t.difference === null ? "–" : `${t.difference > 0 ? "+" : ""}${fmt(t.difference * 100)} pts`;
  const ci = t.difference_ci ? ` [${fmt(t.difference_ci[0] * 100)}, ${fmt(t.difference_ci[1] * 100)}]` : "";
  host.innerHTML = `
    <h2>Does health predict renewals?</h2>
    <p class="verdict" data-auc="${r.auc ?? ""}">${esc(verdict(r, ent))}<span class="hint">${esc(weightsHint(w))}</span></p>
    <p class="sub">${fmt(r.n)} ${ent} outcomes, each scored by the ${ent}'s health over the 30 days ending 30 days before it (all imported outcomes, not the period above). Retained = renewed or expanded.</p>
    <div class="two">
      <div><h3>Retention rate per health band</h3><p class="sub">with 95% Wilson intervals; empty bands have no dot</p>${errorBars(bands, { metric: "band" })}</div>
      <div>
        <h3>Top quartile against the rest</h3>
        <table class="data" id="quartile"><thead><tr><th class="txt"></th><th>outcomes</th><th>retained</th></tr></thead><tbody>
          <tr><td class="txt">health ≥ ${fmt(t.threshold)}</td>${cell("n", t.n, fmt(t.n))}${cell("rate", t.rate, pct(t.rate))}</tr>
          <tr><td class="txt">the rest</td>${cell("rest_n", t.rest_n, fmt(t.rest_n))}${cell("rest_rate", t.rest_rate, pct(t.rest_rate))}</tr>
          <tr><td class="txt">difference</td><td></td>${cell("difference", t.difference, `${diff}<small>${ci}</small>`)}</tr></tbody></table>
        <h3>What predicts retention</h3>
        <table class="data" id="weights"><thead><tr><th class="txt"></th><th>AUC</th><th>configured weight</th><th>suggested weight</th></tr></thead><tbody>
          <tr data-signal="score"><td class="txt"><b>health score</b></td>${cell("auc", r.auc, fmt(r.auc, 2))}<td>–</td><td>–</td></tr>
          ${SIGNALS.map(([k, label]) => `<tr data-signal="${k}"><td class="txt">${label}</td>${cell("auc", r.signal_auc[k], fmt(r.signal_auc[k], 2))}${cell("configured", w.configured[k], fmt(w.configured[k], 0))}${cell("suggested", w.suggested?.[k], fmt(w.suggested?.[k], 0))}</tr>`).join("")}
          <tr data-signal="cv"><td class="txt">cross-validated AUC</td><td></td>${cell("cv_auc_configured", w.cv_auc_configured, fmt(w.cv_auc_configured, 2))}${cell("cv_auc_suggested", w.cv_auc_suggested, fmt(w.cv_auc_suggested, 2))}</tr>
        </tbody></table>
      </div>
    </div>`;
}
