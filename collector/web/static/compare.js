// Compare: two to six configurations side by side, each metric with its 95% bootstrap interval
// drawn as an error bar, a one-line verdict per metric, and the deltas to the baseline with
// theirs. A rejected configuration or date is shown under the form, which stays as typed.
import { ApiError, api, esc, fmt, score, segName, view } from "./lib.js";
import { PALETTE, errorBars } from "./charts.js";
import { ranges } from "./overview.js";

const NAMES = ["a", "b", "c", "d", "e", "f"];
const METRICS = [["pes", "PES"], ["adoption", "Adoption"], ["stickiness", "Stickiness"], ["growth", "Growth"]];

export default {
  name: "compare",
  title: "Compare",
  filters: ["period", "analytic"],
  async render(main, { stale }) {
    const { start, end } = ranges();
    const q = { ...view.query(), start, end };
    delete q.group_by;
    const ent = q.entity === "account" ? "account" : "device";
    const segments = await rejected(api("pes", { ...q, group_by: "device_type,firmware_version" }));
    if (stale()) return;
    let configs = NAMES.map(n => view.get(n)).filter(Boolean);
    if (configs.length < 2 && !view.params().has("a") && !segments.error) {
      configs = defaults(segments);
      if (configs.length === 2) { view.update({ a: configs[0], b: configs[1] }, { push: false }); return; }
    }
    const baseline = view.get("baseline", "a");
    const options = (segments.error ? [] : segments).map(r => `<option value="device_type:${esc(r.device_type)},firmware_version:${esc(r.firmware_version)}">${esc(segName(r, "device_type,firmware_version"))} (${r.active} active)</option>`).join("")
      + [...new Set((segments.error ? [] : segments).map(r => r.firmware_version))].map(f => `<option value="firmware_version:${esc(f)}">`).join("")
      + [...new Set((segments.error ? [] : segments).map(r => r.device_type))].map(t => `<option value="device_type:${esc(t)}">`).join("");
    main.innerHTML = `
      <section class="panel" id="pick">
        <h2>Configurations</h2>
        <p class="sub">Each is a list of <code>attribute:value</code> conditions joined by commas (device_type, firmware_version, account_id, device_id, label:&lt;key&gt;), e.g. <code>device_type:press-x,firmware_version:2.1</code>. Deltas are taken against the baseline. ${start} to ${end}.</p>
        <form id="configs" class="configs">
          ${configs.concat(configs.length < 2 ? ["", ""].slice(configs.length) : []).map((c, i) => row(i, c, baseline)).join("")}
          <div class="toolbar"><button type="button" id="add" class="ghost small">+ configuration</button><button>Compare</button></div>
        </form>
        <datalist id="dl-configs">${options}</datalist>
      </section>
      <div id="result"></div>`;
    const form = main.querySelector("#configs");
    main.querySelector("#add").addEventListener("click", () => {
      const n = form.querySelectorAll(".row").length;
      if (n < NAMES.length) form.querySelector(".toolbar").insertAdjacentHTML("beforebegin", row(n, "", baseline));
    });
    form.addEventListener("submit", e => {
      e.preventDefault();
      const values = [...form.querySelectorAll("input[type=text]")].map(i => i.value.trim()).filter(Boolean);
      const base = form.querySelector("input[type=radio]:checked")?.value || "a";
      const changes = { baseline: base === "a" ? null : base };
      NAMES.forEach((n, i) => (changes[n] = values[i] ?? null));
      view.update(changes);
    });
    const result = main.querySelector("#result");
    const inline = err => (result.innerHTML = `<div class="panel"><p class="err" id="compare-error">${esc(err.message)}</p></div>`);
    if (segments.error) { inline(segments.error); return; }
    if (configs.length < 2) { result.innerHTML = `<div class="panel"><p class="empty">Pick at least two configurations.</p></div>`; return; }
    const params = { ...q, baseline };
    configs.forEach((c, i) => (params[NAMES[i]] = c));
    const rows = await rejected(api("compare", params));
    if (stale()) return;
    if (rows.error) { inline(rows.error); return; }
    const base = m => rows.find(r => r.config === baseline && r.metric === m);
    const color = name => PALETTE[NAMES.indexOf(name) % PALETTE.length];
    const label = r => `${r.config}: ${r.definition}`;
    const panels = METRICS.map(([m, title]) => {
      const mine = rows.filter(r => r.metric === m);
      // A configuration that matches nothing has no value (the API's Growth interval of an empty
      // configuration is [50, 50]: not drawn).
      const items = mine.map(r => (r.entities ? { label: short(r), v: r.value, lo: r.ci_low, hi: r.ci_high, color: color(r.config), attrs: `data-config="${r.config}"` } : { label: `${short(r)} (no ${ent}s)`, v: null, lo: null, hi: null }));
      const lines = mine.filter(r => r.config !== baseline).map(r => `<li data-config="${r.config}">${esc(verdict(r, base(m), title, ent))}</li>`).join("");
      return `<section class="panel" data-metric="${m}"><h2>${title}</h2><p class="sub">value and 95% interval</p>${errorBars(items, { metric: m })}<ul class="verdicts">${lines}</ul></section>`;
    }).join("");
    const deltas = rows.filter(r => r.config !== baseline).map(r => `
      <tr data-config="${r.config}" data-metric="${r.metric}">
        <td class="txt">${esc(label(r))}</td><td class="txt">${r.metric}</td>
        <td data-k="base" data-v="${base(r.metric)?.value ?? ""}">${score(base(r.metric)?.value)}</td>
        <td data-k="value" data-v="${r.value ?? ""}">${score(r.value)}</td><td>[${score(r.ci_low)}, ${score(r.ci_high)}]</td>
        <td data-k="delta" data-v="${r.delta ?? ""}">${r.delta > 0 ? "+" : ""}${score(r.delta)}</td><td>[${score(r.delta_low)}, ${score(r.delta_high)}]</td>
        <td class="txt">${r.significant_holm ? `<span class="pill ${r.delta > 0 ? "good" : "bad"}">significant</span>` : r.significant ? `<span class="pill">significant before correction</span>` : `<span class="pill">within noise</span>`}${r.low_sample ? `<span class="lowmark">low sample</span>` : ""}</td>
        <td>${fmt(r.active)}</td></tr>`).join("");
    result.innerHTML = `<div class="four">${panels}</div>
      <section class="panel" id="deltas"><h2>Deltas to ${esc(baseline)}</h2>
      <p class="sub">delta = configuration − baseline; significant when its 95% interval excludes 0 and it stays so after Holm's correction over all deltas shown (paired bootstrap over entities, ${rows.length ? "1,000" : 0} resamples).</p>
      <div class="tablewrap"><table class="data"><thead><tr><th class="txt">configuration</th><th class="txt">metric</th><th>baseline</th><th>value</th><th>95% CI</th><th>delta</th><th>95% CI</th><th class="txt"></th><th>active</th></tr></thead><tbody>${deltas}</tbody></table></div></section>`;
  },
};

// An API call's 422 (a bad configuration or date) as {error}, to be shown inline; others throw.
function rejected(promise) {
  return promise.catch(err => {
    if (err instanceof ApiError && err.status === 422) return { error: err };
    throw err;
  });
}

// Nothing chosen yet: the two most active versions of the most active device type that has at
// least two (older first, the baseline); without such a type the two most active configurations.
function defaults(segments) {
  const cfg = r => `device_type:${r.device_type},firmware_version:${r.firmware_version}`;
  const byType = new Map();
  for (const r of segments) byType.set(r.device_type, [...(byType.get(r.device_type) || []), r]);
  const total = rs => rs.reduce((s, r) => s + r.active, 0);
  const [best] = [...byType.values()].filter(rs => rs.length >= 2).sort((x, y) => total(y) - total(x));
  const byActive = (x, y) => y.active - x.active;
  if (!best) return [...segments].sort(byActive).slice(0, 2).map(cfg);
  return best.sort(byActive).slice(0, 2)
    .sort((x, y) => String(x.firmware_version).localeCompare(String(y.firmware_version), "en", { numeric: true })).map(cfg);
}

// "b (lathe-9 fw 2.1) raises Stickiness by 16.0 points (8.0 to 24.0) against a, significant."
export function verdict(r, base, title, ent) {
  const who = `${r.config} (${pretty(r.definition)})`;
  if (!r.entities) return `${who} matches no ${ent} in this period.`;
  if (base && !base.entities) return `The baseline ${base.config} matches no ${ent} in this period.`;
  if (r.delta === null || r.delta === undefined) return `${who}: no ${title} to compare.`;
  const dir = r.delta > 0 ? "raises" : r.delta < 0 ? "lowers" : "leaves";
  const by = r.delta === 0 ? "unchanged" : `by ${score(Math.abs(r.delta))} points`;
  const sig = r.significant_holm ? "significant" : r.significant ? "significant before Holm's correction only" : "within noise";
  return `${who} ${dir} ${title} ${by} (${score(r.delta_low)} to ${score(r.delta_high)}) against ${base?.config ?? "the baseline"}, ${sig}.`;
}

const pretty = d => d.replaceAll("device_type:", "").replaceAll("firmware_version:", "fw ").replaceAll(",", " ");

function short(r) {
  const d = pretty(r.definition);
  return `${r.config} · ${d.length > 22 ? `${d.slice(0, 21)}…` : d}`;
}

function row(i, value, baseline) {
  const n = NAMES[i];
  return `<div class="row" data-name="${n}"><b>${n}</b><input type="text" name="${n}" value="${esc(value)}" list="dl-configs" placeholder="attribute:value,..." aria-label="configuration ${n}">
    <label><input type="radio" name="baseline" value="${n}" ${n === baseline ? "checked" : ""}> baseline</label></div>`;
}
