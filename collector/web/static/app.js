// The shell: routing between pages (History API; the server answers every page path with this
// document), the filter bar bound to the URL, the token prompt, and the page life cycle
// (body[data-state] = loading | ready | error, which the browser tests wait on).
import { ApiError, FILTER_KEYS, DEFAULT_GROUP_BY, api, esc, token, view } from "./lib.js";
import overview, { ranges } from "./overview.js";
import compare from "./compare.js";
import accounts from "./accounts.js";
import releases from "./releases.js";
import fleet from "./fleet.js";
import { chartTips } from "./charts.js";

const PAGES = { "/": overview, "/compare": compare, "/releases": releases, "/accounts": accounts, "/fleet": fleet };
const form = document.getElementById("filters");
const main = document.getElementById("main");
const banner = document.getElementById("banner");
let generation = 0, cleanup = null;
chartTips();

// ?token=... (the demo's link) is stored in this browser and removed from the address bar.
const first = new URLSearchParams(location.search);
if (first.get("token")) {
  token.set(first.get("token"));
  first.delete("token");
  history.replaceState(null, "", location.pathname + (first.toString() ? `?${first}` : ""));
}

function fillForm(page) {
  const p = view.params(), range = (page.range || ranges)();
  for (const k of FILTER_KEYS) {
    const input = form.elements[k];
    if (k === "start" || k === "end") input.value = range[k];  // the range in effect
    else if (k === "group_by") input.value = p.has(k) ? p.get(k) : DEFAULT_GROUP_BY;
    else input.value = p.get(k) || (input.tagName === "SELECT" ? input.options[0].value : "");
    if (input.tagName === "SELECT" && input.value !== (p.get(k) ?? input.value)) {
      input.add(new Option(p.get(k), p.get(k)));  // a custom group_by from a shared link
      input.value = p.get(k);
    }
  }
}

function showAuth(message) {
  banner.hidden = false;
  banner.innerHTML = `${esc(message)} <form id="tokenform"><input name="t" type="password" placeholder="API token" size="24" aria-label="API token"><button>Use token</button></form>`;
  banner.querySelector("form").addEventListener("submit", e => {
    e.preventDefault();
    token.set(e.target.elements.t.value.trim());
    banner.hidden = true;
    render();
  });
}

async function render() {
  const mine = ++generation;
  const page = PAGES[location.pathname] || overview;
  document.querySelectorAll("#nav a").forEach(a => a.classList.toggle("active", a.getAttribute("href") === location.pathname));
  for (const label of form.querySelectorAll("label")) {
    const used = page.filters.some(c => label.classList.contains(c));
    label.classList.toggle("off", !used);
    label.querySelectorAll("input,select").forEach(i => (i.disabled = !used));
  }
  form.hidden = page.filters.length === 0;
  fillForm(page);
  if (cleanup) { cleanup(); cleanup = null; }
  document.body.dataset.state = "loading";
  document.body.dataset.page = page.name;
  document.title = `${page.title} · PES Telemetry`;
  main.innerHTML = `<p class="spinner">Loading ${esc(page.title.toLowerCase())}…</p>`;
  try {
    const result = await page.render(main, { stale: () => mine !== generation });
    if (mine !== generation) return;
    cleanup = typeof result === "function" ? result : null;
    if (!(banner.dataset.auth === "1")) banner.hidden = true;
    document.body.dataset.state = "ready";
  } catch (err) {
    if (mine !== generation) return;
    document.body.dataset.state = "error";
    if (err instanceof ApiError && err.status === 401) {
      showAuth(token.get() ? "The API token was refused." : "This collector needs an API token.");
      main.innerHTML = "";
    } else {
      main.innerHTML = `<div class="panel"><p class="err">Could not load this page: ${esc(err.message || err)}</p></div>`;
    }
  }
}

form.addEventListener("submit", e => {
  e.preventDefault();
  const changes = {};
  for (const k of FILTER_KEYS) if (!form.elements[k].disabled) changes[k] = form.elements[k].value.trim();
  view.update(changes);
});
document.getElementById("reset").addEventListener("click", () => {
  history.pushState(null, "", location.pathname);
  render();
});
form.querySelectorAll("select").forEach(s => s.addEventListener("change", () => form.requestSubmit()));
document.getElementById("nav").addEventListener("click", e => {
  const a = e.target.closest("a");
  if (!a || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  // Filters travel with the user from page to page; page-specific parameters do not.
  const p = view.params(), keep = new URLSearchParams();
  for (const k of FILTER_KEYS) if (p.has(k)) keep.set(k, p.get(k));
  history.pushState(null, "", a.getAttribute("href") + (keep.toString() ? `?${keep}` : ""));
  render();
});
window.addEventListener("popstate", render);
window.addEventListener("pes:navigate", render);

// Suggestions for the device type and firmware filters, fetched when first wanted (not on every
// page load: on a large fleet it is a PES query of its own).
let suggested = false;
function suggest() {
  if (suggested) return;
  suggested = true;
  api("pes", { group_by: "device_type,firmware_version" }).then(rows => {
    const uniq = k => [...new Set(rows.map(r => r[k]).filter(Boolean))].sort();
    document.getElementById("dl-types").innerHTML = uniq("device_type").map(v => `<option value="${esc(v)}">`).join("");
    document.getElementById("dl-fw").innerHTML = uniq("firmware_version").map(v => `<option value="${esc(v)}">`).join("");
  }).catch(() => { suggested = false; });
}
form.elements.device_type.addEventListener("focus", suggest);
form.elements.firmware_version.addEventListener("focus", suggest);

render();
