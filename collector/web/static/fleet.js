// Fleet: which devices are online, what is waiting in their buffers, what was lost on the way
// (stream gaps, agent drops), what was quarantined, and how fast this collector is ingesting.
// Refreshes itself every few seconds while open.
import { api, esc, fmt, kpi, table } from "./lib.js";
import { PALETTE, barChart, rateLine, stackBar } from "./charts.js";

const REFRESH_MS = 5000;

export default {
  name: "fleet",
  title: "Fleet",
  filters: [],
  async render(main, { stale }) {
    const draw = async () => {
      const f = await api("fleet");
      if (stale()) return;
      main.innerHTML = html(f);
      table(main.querySelector("#attention .body"), {
        columns: [
          { k: "device_id", label: "device", txt: true }, { k: "device_type", label: "type", txt: true },
          { k: "firmware_version", label: "firmware", txt: true }, { k: "state", label: "agent", txt: true },
          { k: "buffer_depth", label: "buffered" }, { k: "gap_events", label: "gaps" }, { k: "dropped_events", label: "dropped" },
          { k: "last_seen_ms", label: "last event", fmt: v => (v ? ago(Date.now() - v) : "never") },
          // Remote configuration the agent applied, or why it refused the latest (docs/agent.md).
          { k: "config_version", label: "config", txt: true, fmt: (v, r) => esc(r.config_error ? `refused: ${r.config_error}` : v || "local") },
        ],
        rows: f.attention, sortParam: "fsort", defaultSort: "-buffer_depth",
        rowAttrs: r => `data-device="${esc(r.device_id)}"`,
      });
      if (!f.attention.length) main.querySelector("#attention .body").innerHTML = `<p class="empty">Every device is sending, with nothing buffered and nothing lost.</p>`;
    };
    await draw();
    const timer = setInterval(() => draw().catch(() => {}), REFRESH_MS);
    return () => clearInterval(timer);
  },
};

function ago(ms) {
  const s = ms / 1000;
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function html(f) {
  const ing = f.ingest;
  const rate = ing?.rate;
  const reasons = Object.entries(f.quarantine_by_reason).sort((a, b) => b[1] - a[1]).map(([label, v]) => ({ label, v }));
  return `
    <section class="cards" id="fleet-kpis">
      ${kpi("Devices", fmt(f.devices), { v: f.devices, key: "devices", main: true, note: `${fmt(f.silent_24h)} silent for 24 h` })}
      ${kpi("Online", fmt(f.online), { v: f.online, key: "online", note: "agent connected" })}
      ${kpi("Offline", fmt(f.offline), { v: f.offline, key: "offline", note: `${fmt(f.no_status)} never reported a status` })}
      ${kpi("Buffered", fmt(f.buffer_events), { v: f.buffer_events, key: "buffer_events", note: `on ${fmt(f.devices_with_backlog)} devices${f.oldest_buffered_s ? `, oldest ${ago(f.oldest_buffered_s * 1000).replace(" ago", "")}` : ""}` })}
      ${kpi("Stream gaps", fmt(f.gap_events), { v: f.gap_events, key: "gap_events", note: "missing in transport" })}
      ${kpi("Dropped", fmt(f.dropped_events), { v: f.dropped_events, key: "dropped_events", note: "declared by agents" })}
      ${kpi("Quarantined", fmt(f.quarantined), { v: f.quarantined, key: "quarantined", note: "refused at validation" })}
      ${kpi("Ingest rate", rate === null || rate === undefined ? "–" : `${fmt(rate)}/s`, { v: rate, key: "rate", note: ing ? `${fmt(ing.stored)} stored by this collector` : "ingest disabled" })}
    </section>
    <div class="grid">
      <section class="panel" id="agents"><h2>Agents</h2><p class="sub">last status each agent published (its last will says offline)</p>
        ${stackBar([{ label: "online", v: f.online, color: PALETTE[5] }, { label: "offline", v: f.offline, color: PALETTE[4] }, { label: "no status", v: f.no_status, color: "#94a3b8" }])}</section>
      <section class="panel" id="quarantine"><h2>Quarantine by reason</h2><p class="sub">events or payloads the collector refused, all time</p>
        ${barChart(reasons, { series: "quarantine", color: PALETTE[2], emptyText: "Nothing quarantined." })}</section>
      <section class="panel" id="ingest"><h2>Ingest (this collector)</h2><p class="sub">events stored per second between refreshes of this page, the last 5 minutes</p>
        ${rateChart(ing)}</section>
    </div>
    <section class="panel" id="attention"><h2>Devices to look at</h2><p class="sub">a buffer backlog, stream gaps or drops, a refused remote configuration, or no event for 24 hours; the worst first</p><div class="body"></div></section>`;
}

function rateChart(ing) {
  if (!ing) return `<p class="empty">This collector does not ingest (API only).</p>`;
  if (!ing.rate_points.length) return `<p class="empty">Measuring… the rate appears at the next refresh.</p>
    <p class="sub">${fmt(ing.messages)} messages, ${fmt(ing.stored)} events stored, ${fmt(ing.duplicates)} duplicates, ${fmt(ing.quarantined)} quarantined since start.</p>`;
  return rateLine(ing.rate_points) +
    `<p class="sub">${fmt(ing.messages)} messages, ${fmt(ing.stored)} events stored, ${fmt(ing.duplicates)} duplicates, ${fmt(ing.quarantined)} quarantined since start.</p>`;
}
