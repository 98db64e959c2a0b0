// Shared by every page: the API client (token, errors, busy retries), the view state kept in
// the URL, number formats, and a sortable table.

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

const TOKEN_KEY = "pesToken";
export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: t => localStorage.setItem(TOKEN_KEY, t),
};

// GET /v1/<path>; a 503 (store busy) is retried a few times, honouring Retry-After.
export async function api(path, params = {}) {
  const q = new URLSearchParams();
  // An empty group_by means "whole fleet" and is sent; other empty values are left out.
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && (v !== "" || k === "group_by")) q.set(k, v);
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`/v1/${path}?${q}`, { headers: { Authorization: `Bearer ${token.get()}` } });
    if (res.ok) return res.json();
    if (res.status === 503 && attempt < 3) {
      await new Promise(r => setTimeout(r, 1000 * Number(res.headers.get("Retry-After") || 1)));
      continue;
    }
    let detail = res.statusText;
    try {
      const body = await res.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch { /* not JSON */ }
    if (res.status === 503) detail = `the collector is busy (${detail}); try again shortly`;
    throw new ApiError(res.status, detail);
  }
}

// The view state: the URL's query string is the single source of truth.
export const FILTER_KEYS = ["start", "end", "entity", "stickiness", "group_by", "device_type", "firmware_version", "account_id"];
export const DEFAULT_GROUP_BY = "device_type,firmware_version";
export const view = {
  params: () => new URLSearchParams(location.search),
  get: (k, dflt = "") => { const p = new URLSearchParams(location.search); return p.has(k) ? p.get(k) : dflt; },
  groupBy: () => view.get("group_by", DEFAULT_GROUP_BY),
  // The analytics parameters every /v1 call of a page shares.
  query: () => {
    const p = view.params(), out = {};
    for (const k of FILTER_KEYS) if (p.get(k)) out[k] = p.get(k);
    out.group_by = view.groupBy();
    return out;
  },
  update(changes, { push = true } = {}) {
    const p = view.params();
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || (v === "" && k !== "group_by")) p.delete(k); else p.set(k, v);
    }
    const url = location.pathname + (p.toString() ? `?${p}` : "");
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
    window.dispatchEvent(new Event("pes:navigate"));
  },
};

export const iso = d => d.toISOString().slice(0, 10);
export const addDays = (s, n) => { const d = new Date(`${s}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + n); return iso(d); };
export const daysBetween = (a, b) => Math.round((new Date(`${b}T00:00:00Z`) - new Date(`${a}T00:00:00Z`)) / 86400000);

// The one number format: counts as whole numbers; with `digits` always that many decimals
// (scores 0-100 one, ratios two, percents one: see score, ratio, pct), so 100 reads "100.0"
// beside "96.4". Without `digits` a whole number stays whole, other numbers get one decimal.
export function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  if (digits === undefined && Number.isInteger(v)) return v.toLocaleString("en-US");
  const d = digits ?? 1;
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}
export const score = v => fmt(v, 1);  // PES, its components, health: points 0-100
export const ratio = v => fmt(v, 2);  // quick ratio, AUC
export const pct = v => (v === null || v === undefined ? "–" : `${fmt(v * 100, 1)}%`);  // a share 0-1

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// A raw number for data-v attributes (tests read them back and compare with the API).
export const raw = v => (v === null || v === undefined ? "" : String(v));

export function el(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content.firstElementChild;
}

// A headline card; with `prev` (an object, possibly empty) it also shows the change against the
// previous period: "+3.2 vs previous", or why there is none.
export function kpi(label, value, { v, note = "", main = false, key = "", prev, digits = 1 } = {}) {
  return `<div class="card kpi${main ? " main" : ""}" data-k="${esc(key || label)}" data-v="${esc(raw(v))}">
    <div class="label">${esc(label)}</div><div class="value">${value}</div>${prev ? delta(v, prev.v, digits) : ""}<div class="note">${note}</div></div>`;
}

function delta(v, before, digits) {
  const none = x => x === null || x === undefined;
  if (none(v) || none(before)) return `<div class="delta" data-prev="${esc(raw(before))}">${none(before) ? "no previous value" : "&nbsp;"}</div>`;
  const d = v - before, dir = Math.abs(d) < 1e-9 ? "flat" : d > 0 ? "up" : "down";
  const text = dir === "flat" ? "no change" : `${d > 0 ? "▲ +" : "▼ "}${fmt(d, digits)}`;
  return `<div class="delta ${dir}" data-prev="${esc(raw(before))}" title="previous period: ${esc(fmt(before, digits))}">${text} vs previous</div>`;
}

export function errorBox(err) {
  if (err instanceof ApiError && err.status === 401) return `<p class="err">Not authorised: enter the API token above.</p>`;
  return `<p class="err">${esc(err.message || String(err))}</p>`;
}

// A sortable table. columns: [{k, label, txt?, fmt?(v,row), v?(row)}]; rows: objects.
// Sorting is in the URL (`sortParam`) so a shared view keeps its order.
export function table(host, { columns, rows, sortParam, defaultSort, rowAttrs = () => "", rowClass = () => "", onRow }) {
  const spec = view.get(sortParam, defaultSort);
  const desc = spec.startsWith("-"), key = spec.replace(/^-/, "");
  const col = columns.find(c => c.k === key) || columns[0];
  const value = r => (col.v ? col.v(r) : r[col.k]);
  const sorted = [...rows].sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x > y ? 1 : -1) * (desc ? -1 : 1);
  });
  const head = columns.map(c => `<th data-k="${c.k}" class="${c.txt ? "txt " : ""}${c.k === col.k ? `sorted${desc ? "" : " asc"}` : ""}">${esc(c.label ?? c.k)}</th>`).join("");
  const body = sorted.map(r => `<tr class="${rowClass(r)}${onRow ? " clickable" : ""}" ${rowAttrs(r)}>` + columns.map(c => {
    const v = c.v ? c.v(r) : r[c.k];
    return `<td class="${c.txt ? "txt" : ""}" data-k="${c.k}" data-v="${esc(raw(v))}">${c.fmt ? c.fmt(v, r) : esc(fmt(v))}</td>`;
  }).join("") + "</tr>").join("");
  host.innerHTML = `<div class="tablewrap"><table class="data" data-rows="${rows.length}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  host.querySelectorAll("th").forEach(th => th.addEventListener("click", () => {
    const k = th.dataset.k;
    view.update({ [sortParam]: k === col.k && desc ? k : `-${k}` }, { push: false });
  }));
  if (onRow) host.querySelectorAll("tbody tr").forEach((tr, i) => tr.addEventListener("click", e => onRow(sorted[i], e)));
}

export function segName(row, groupBy) {
  const keys = groupBy.split(",").filter(Boolean);
  if (!keys.length) return "whole fleet";
  return keys.map(k => row[k] ?? "(none)").join(" · ");
}
