"""Making one event: stamp ids and clocks, merge defaults from the settings, validate against
the wire contract. Shared by Agent.record() and `pes-agent emit`, so both write the same shape."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent.errors import InvalidEvent
from agent.ids import boot_id, mono_ms, uuid7
from agent.settings import AgentSettings
from shared.models import WireEvent

# The sequence number is assigned by the buffer on insert; validation needs a placeholder.
_SEQ_PLACEHOLDER = 1


def make_event(
    settings: AgentSettings,
    kind: str,
    feature: str | None = None,
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    props: Mapping[str, Any] | None = None,
    ts_ms: int | None = None,
    device_type: str | None = None,
    firmware_version: str | None = None,
    account_id: str | None = None,
) -> dict[str, Any]:
    """Return the event as stored in the buffer (a WireEvent without `seq`, defaults omitted).

    Raises InvalidEvent naming the offending field(s)."""
    doc: dict[str, Any] = {
        "id": uuid7(),
        "seq": _SEQ_PLACEHOLDER,
        "kind": kind,
        "feature": feature,
        "session_id": session_id,
        "user_id": user_id,
        "ts": time.time_ns() // 1_000_000 if ts_ms is None else ts_ms,
        # An explicit timestamp (a backfill, or equipment with its own clock) is the caller's
        # claim about when it happened: the monotonic reading of *now* would contradict it.
        "mono": mono_ms() if ts_ms is None else None,
        "boot": boot_id() if ts_ms is None else None,
        "device_type": device_type or settings.device_type,
        "firmware_version": firmware_version or settings.firmware_version,
        "account_id": account_id or settings.account_id,
        # Per-event labels refine the device's labels rather than replace them.
        "labels": {**settings.labels, **(labels or {})},
        "props": dict(props or {}),
    }
    try:
        event = WireEvent.model_validate(doc)
    except ValidationError as exc:
        raise InvalidEvent(_explain(exc)) from exc
    # Defaults (None, {}) are left out: the collector fills them in and the bytes add up.
    return event.model_dump(mode="json", exclude={"seq"}, exclude_defaults=True)


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")  # a model-level rule: no field to name
        parts.append(f"{key}: {msg}" if key else msg)
    return "invalid event: " + "; ".join(parts)
