"""The agent's counters (AgentStats, what Agent.stats() returns) and its Prometheus metrics,
made from a status snapshot and those counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.metrics import Sample, render
from agent.publisher import PublisherStats
from agent.sock import SocketStats
from agent.writer import WriterStats


@dataclass(frozen=True, slots=True)
class AgentStats:
    """One process's counters, copied at one instant (Agent.stats())."""

    recorded: int  # events committed to the buffer by this process (sessions' included)
    commits: int  # transactions that wrote them
    connected: bool
    inflight: int  # batches sent and not yet acked
    stream_id: str
    publisher: PublisherStats
    writer: WriterStats
    socket: SocketStats
    sessions_open: int


def metric_samples(device_id: str, snap: dict[str, Any], st: AgentStats) -> str:
    last_ack = snap.get("last_ack_ms")
    p, w, s = st.publisher, st.writer, st.socket
    samples: list[Sample] = [
        ("pes_agent_up", "gauge", "1 while the agent runs", 1),
        ("pes_agent_connected", "gauge", "1 while connected to the broker", int(st.connected)),
        ("pes_agent_buffer_events", "gauge", "Events buffered, not yet acked",
         snap["buffer_depth"]),
        ("pes_agent_buffer_oldest_age_seconds", "gauge", "Age of the oldest buffered event",
         snap["oldest_age_s"]),
        ("pes_agent_buffer_disk_bytes", "gauge", "Database + WAL + WAL index on disk",
         snap["disk_bytes"]),
        ("pes_agent_buffer_limit_bytes", "gauge", "max_buffer_mb in bytes", snap["limit_bytes"]),
        ("pes_agent_dropped_events_total", "counter",
         "Events dropped on the device (buffer overflow), since the buffer was created",
         snap["dropped"]),
        ("pes_agent_rejected_events_total", "counter",
         "Events refused because the buffer was full (reject_new)", snap["rejected"]),
        ("pes_agent_pending_drop_ranges", "gauge",
         "Drop ranges not yet acknowledged by a collector", snap["pending_drop_range_count"]),
        ("pes_agent_last_ack_timestamp_seconds", "gauge", "Collector time of the last ack",
         None if last_ack is None else last_ack / 1000),
        ("pes_agent_recorded_events_total", "counter", "Events committed by this process",
         w.stored),
        ("pes_agent_commits_total", "counter", "Buffer transactions (group commits)", w.commits),
        ("pes_agent_commit_failures_total", "counter",
         "Buffer transactions that failed (disk full, I/O): their events were refused",
         w.failed_commits),
        ("pes_agent_batches_sent_total", "counter", "Batches published", p.batches_sent),
        ("pes_agent_batches_resent_total", "counter", "Batches published again (no ack)",
         p.batches_resent),
        ("pes_agent_events_acked_total", "counter", "Events deleted after an ack",
         p.events_acked),
        ("pes_agent_publish_failures_total", "counter", "Publishes that failed",
         p.publish_failures),
        ("pes_agent_throttled_seconds_total", "counter", "Time held back by drain_rate_eps",
         p.throttled_s),
        ("pes_agent_inflight_batches", "gauge", "Batches sent, not yet acked", st.inflight),
        ("pes_agent_sessions_open", "gauge", "Automatic sessions open", st.sessions_open),
        ("pes_agent_socket_clients", "gauge", "Local socket clients connected", s.clients),
        ("pes_agent_socket_ok_total", "counter", "Socket lines recorded", s.ok),
        ("pes_agent_socket_errors_total", "counter", "Socket lines answered with an error",
         s.errors),
    ]  # fmt: skip
    return render(samples, {"device_id": device_id})
