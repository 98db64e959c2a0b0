"""What the agent says about itself: one snapshot of the buffer, used by the retained status
message, `pes-agent status` and the Prometheus metrics, so all three say the same."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from agent._version import __version__
from agent.buffer import Buffer
from agent.ids import boot_id, mono_ms, uuid7_ms
from agent.wire import encode
from shared import limits as L

State = Literal["online", "offline"]


def buffer_snapshot(buffer: Buffer) -> dict[str, Any]:
    """(Blocking: call it on a worker thread.) Depth, age of the oldest event, drops, last ack,
    disk use. The age is measured on the monotonic clock when the oldest event was recorded in
    this boot (wall clocks jump), else from the recording time in its UUIDv7 id."""
    oldest = buffer.oldest()
    meta = buffer.meta()
    drops = buffer.pending_drops(1_000_000)
    age: float | None = None
    if oldest is not None:
        if oldest.boot == boot_id() and oldest.mono is not None:
            age = max(0, mono_ms() - oldest.mono) / 1000
        elif oldest.id:
            age = max(0, time.time_ns() // 1_000_000 - uuid7_ms(oldest.id)) / 1000
    last_ack = meta.get("last_ack_ms")
    return {
        "version": __version__,
        "stream_id": buffer.stream_id,
        "buffer_depth": buffer.depth(),
        "oldest_age_s": age,
        "oldest_seq": oldest.seq if oldest else None,
        "last_seq": buffer.last_seq(),
        "dropped": int(meta.get("dropped_total", 0)),
        "rejected": int(meta.get("rejected_total", 0)),
        "pending_drop_ranges": [[d.first, d.last, d.reason] for d in drops[:64]],
        "pending_drop_range_count": len(drops),
        "last_ack_ms": int(last_ack) if last_ack else None,
        "disk_bytes": buffer.disk_bytes(),
        "limit_bytes": buffer.budget.total_bytes if buffer.budget else None,
        "overflow": buffer.overflow,
        "firmware_version": meta.get("firmware_version"),
    }


def status_payload(device_id: str, state: State, snap: Mapping[str, Any]) -> bytes:
    """The retained status (shared.models.AgentStatus, field for field; docs/wire.md) from a
    snapshot; {} for the last will. Every value is the agent's own, already in range."""
    age = snap.get("oldest_age_s")
    status = {
        "v": 1,
        "device_id": device_id,
        "state": state,
        "version": __version__,
        # Within shared.models.AgentStatus's bounds, which the collector enforces.
        "buffer_depth": min(snap.get("buffer_depth", 0), L.MAX_STATUS_COUNT),
        "oldest_age_s": None if age is None else min(age, L.MAX_STATUS_AGE_S),
        "dropped": min(snap.get("dropped", 0), L.MAX_STATUS_COUNT),
        "last_ack_ms": snap.get("last_ack_ms"),
        "sent_ms": time.time_ns() // 1_000_000,
        "collection": snap.get("collection", "on"),
        "config_version": snap.get("config_version"),
        "config_error": snap.get("config_error"),
    }
    return encode(status)
