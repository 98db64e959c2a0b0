// Accounts and devices: who is at risk, who is a product-qualified lead, and one entity's
// health and daily activity (?id=...), and whether health predicts renewals (outcomes.js).
import { api, esc, fmt, kpi, score, table, view } from "./lib.js";
import { PALETTE, barChart, dayColumns } from "./charts.js";
import { ranges } from "./overview.js";
import { outcomesCard } from "./outcomes.js";

const LIST = 25;
const CAP = 5000;  // enough to count; a fleet with more at risk shows "5,000+"

export default {
  name: "accounts",
  title: "Accounts & devices",
  filters: ["period", "analytic"],
  async render(main, { stale }) {
    const { start, end } = ranges();
    const q = { ...view.query(), start, end };
    delete q.group_by;
    const id = view.get("id");
    const ent = q.entity === "account" ? "account" : "device";
    const [risk, pql, detail, outcomes] = await Promise.all([
      api("health", { ...q, list: "at_risk", limit: CAP }),
      api("health", { ...q, list: "pql", limit: CAP }),
      id ? api("entity", { id, entity: ent, start, end, device_type: q.device_type, firmware_version: q.firmware_version }) : null,
      api("outcomes/report", { entity: ent, device_type: q.device_type, firmware_version: q.firmware_version }),
    ]);
    if (stale()) return;
    main.innerHTML = `
      <form id="find" class="toolbar"><label>Find ${ent === "account" ? "an" : "a"} ${ent}: <input name="id" value="${esc(id)}" placeholder="${ent} id" size="28"></label><button class="small">Show</button>
        ${id ? `<button type="button" id="close" class="ghost small">Close</button>` : ""}</form>
      ${detail ? `<section class="panel" id="entity" data-entity="${esc(id)}"></section>` : ""}
      <div class="two">
        <section class="panel" id="at-risk"><h2>At risk <span class="pill bad" data-v="${risk.length}">${count(risk)}</span></h2>
          <p class="sub">health below the threshold, or dropped (active before, not in ${start} to ${end}); lowest first${risk.length > LIST ? `, first ${LIST}` : ""}</p><div class="body"></div></section>
        <section class="panel" id="pql"><h2>Product-qualified leads <span class="pill good" data-v="${pql.length}">${count(pql)}</span></h2>
          <p class="sub">top quartile of active ${ent}s by health; highest first${pql.length > LIST ? `, first ${LIST}` : ""}</p><div class="body"></div></section>
      </div>
      <section class="panel" id="outcomes"></section>`;
    main.querySelector("#find").addEventListener("submit", e => { e.preventDefault(); view.update({ id: e.target.elements.id.value.trim() || null }); });
    main.querySelector("#close")?.addEventListener("click", () => view.update({ id: null }));
    const open = r => view.update({ id: r.entity });
    const cols = [
      { k: "entity", label: ent, txt: true },
      ...(ent === "device" ? [{ k: "account_id", label: "account", txt: true }] : []),
      { k: "health", label: "health", fmt: v => `${score(v)}<span class="bar" style="width:${(v ?? 0) * 0.6}px;background:${v < 30 ? "var(--red)" : "var(--teal)"}"></span>` },
      { k: "change", label: "change", fmt: v => (v === null || v === undefined ? "–" : `${v > 0 ? "+" : ""}${score(v)}`) },
      { k: "active_days", label: "active days" },
      { k: "reasons", label: "why", txt: true, v: r => (r.reasons || []).join(","), fmt: v => (v ? v.split(",").map(x => `<span class="pill bad">${esc(x)}</span>`).join("") : "") },
    ];
    const attrs = r => `data-entity="${esc(r.entity)}" data-health="${r.health}"`;
    table(main.querySelector("#at-risk .body"), { columns: cols, rows: risk.slice(0, LIST), sortParam: "rsort", defaultSort: "health", rowAttrs: attrs, onRow: open });
    table(main.querySelector("#pql .body"), { columns: cols.slice(0, 4), rows: pql.slice(0, LIST), sortParam: "psort", defaultSort: "-health", rowAttrs: attrs, onRow: open });
    if (!risk.length) main.querySelector("#at-risk .body").innerHTML = `<p class="empty">Nobody at risk in this period.</p>`;
    if (!pql.length) main.querySelector("#pql .body").innerHTML = `<p class="empty">No active ${ent}s in this period.</p>`;
    if (detail) renderEntity(main.querySelector("#entity"), detail);
    outcomesCard(main.querySelector("#outcomes"), outcomes, { ent, filtered: Boolean(q.device_type || q.firmware_version) });
  },
};

function renderEntity(host, d) {
  const h = d.health;
  const uses = d.days.map(day => ({ ...day, total: Object.values(day.uses).reduce((s, n) => s + n, 0) }));
  const perFeature = {};
  for (const day of d.days) for (const [f, n] of Object.entries(day.uses)) perFeature[f] = (perFeature[f] || 0) + n;
  const activeDays = d.days.filter(x => x.active).length;
  const sessions = d.days.reduce((s, x) => s + x.sessions, 0);
  const comp = h ? [["frequency", h.frequency], ["breadth", h.breadth], ["key actions", h.key_actions], ["depth", h.depth]] : [];
  host.innerHTML = `
    <h2>${esc(d.entity)} ${esc(d.id)}</h2>
    <p class="sub">${d.start} to ${d.end}${h?.account_id ? ` · account ${h.account_id.split(",").map(a => `<a href="#" class="to-account" data-account="${esc(a)}">${esc(a)}</a>`).join(", ")}` : ""}${d.configurations.length ? ` · ${d.configurations.map(c => esc(`${c.device_type} ${c.firmware_version}`)).join(", ")}` : ""}</p>
    ${h ? "" : `<p class="empty">No activity for this ${esc(d.entity)} in this period or the one before.</p>`}
    <div class="cards">
      ${kpi("Health", score(h?.health), { v: h?.health, key: "health", main: true, note: h?.health_prev === null || h?.health_prev === undefined ? "no previous period" : `previous ${score(h.health_prev)}` })}
      ${kpi("Active days", fmt(activeDays), { v: activeDays, key: "active_days", note: `of ${d.days.length}` })}
      ${kpi("Sessions", fmt(sessions), { v: sessions, key: "sessions", note: h ? `${fmt(h.mean_session_minutes)} min on average` : "" })}
      ${kpi("Status", h ? (h.at_risk ? "at risk" : h.pql ? "PQL" : "ok") : "–", { v: h ? (h.at_risk ? "at_risk" : h.pql ? "pql" : "ok") : "", key: "status", note: (h?.reasons || []).join(", ") })}
    </div>
    <div class="two">
      <div><h2>Health components</h2><div class="components">${comp.map(([k, v]) => `<span>${k}</span><div class="track"><div class="fill" style="width:${(v ?? 0) * 100}%"></div></div><span data-k="${k}" data-v="${v}">${fmt((v ?? 0) * 100, 0)}%</span>`).join("")}</div>
        <h2 style="margin-top:1rem">Feature uses</h2>${barChart(Object.entries(perFeature).sort((a, b) => b[1] - a[1]).map(([label, v]) => ({ label, v })), { series: "feature_uses", color: PALETTE[3], emptyText: "No feature uses in this period." })}</div>
      <div><h2>Activity per day</h2><p class="sub">feature uses per day; grey: not active</p>${dayColumns(uses, { key: "total", series: "uses" })}</div>
    </div>`;
  host.querySelectorAll(".to-account").forEach(a => a.addEventListener("click", e => { e.preventDefault(); view.update({ entity: "account", id: a.dataset.account }); }));
}

const count = rows => (rows.length >= CAP ? `${fmt(CAP)}+` : fmt(rows.length));
