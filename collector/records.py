"""The row types that ingest produces and storage consumes: a validated event ready to store, a
quarantined item, the stream range a batch acknowledges, and one message's worth of them. Plain
data, no behaviour beyond trivial properties, so both sides can import it without depending on
each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.models import ACTIVITY_KINDS

__all__ = ["AckTarget", "EventRow", "ParsedMessage", "QuarantineRow", "StatusRow"]


class EventRow(NamedTuple):
    """A validated event, its timestamp corrected, ready to store. A tuple because one is built
    per event on the hot path; the field order is the column order of the events table."""

    device_id: str
    event_id: str
    stream_id: str | None
    seq: int | None
    kind: str
    feature: str | None
    session_id: str | None
    user_id: str | None
    ts_ms: int
    wall_ms: int
    clock_method: str
    day: str  # ISO date in the collector's time zone
    device_type: str
    firmware_version: str
    account_id: str
    labels: str  # canonical JSON (sorted keys), "{}" when none
    props: str

    @property
    def is_activity(self) -> bool:
        return self.kind in ACTIVITY_KINDS


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    topic: str
    device_id: str | None
    reason: str
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class AckTarget:
    device_id: str
    stream_id: str
    first_seq: int
    last_seq: int


@dataclass(slots=True)
class ParsedMessage:
    events: list[EventRow] = field(default_factory=list)
    quarantined: list[QuarantineRow] = field(default_factory=list)
    ack: AckTarget | None = None  # None when the envelope is too broken to acknowledge
    # The stream range to record as received (not for spoofed batches: the range is not theirs).
    stream: AckTarget | None = None
    drops: list[tuple[int, int, str]] = field(default_factory=list)  # declared by the agent


# An agent's latest status: (device_id, AgentStatus as a dict).
StatusRow = tuple[str, dict[str, Any]]
