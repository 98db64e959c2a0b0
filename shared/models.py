"""Pydantic models of everything on the wire. Field names are short but spelled out in docs/wire.md.

Timestamps on the wire are integers: milliseconds since the Unix epoch (wall clocks) or since boot
(monotonic clocks). Integers are exact, compact and cheap to parse on small gateways.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, StringConstraints, model_validator

from shared import limits as L

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ACTIVITY_KINDS = frozenset({"session_start", "session_end", "feature_use"})

Id = Annotated[str, StringConstraints(pattern=L.ID_PATTERN, max_length=L.MAX_ID_LEN)]
Name = Annotated[str, StringConstraints(pattern=L.NAME_PATTERN, max_length=L.MAX_NAME_LEN)]
Kind = Annotated[str, StringConstraints(pattern=L.KIND_PATTERN)]
EventId = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=L.MAX_KEY_LEN)]
Value = Annotated[str, StringConstraints(max_length=L.MAX_VALUE_LEN)]
Millis = Annotated[int, Field(ge=0, le=L.MAX_SEQ)]
Seq = Annotated[int, Field(ge=1, le=L.MAX_SEQ)]
# Counters an agent reports about itself: bounded so that sums over a fleet stay within 64 bits.
StatusCount = Annotated[int, Field(ge=0, le=L.MAX_STATUS_COUNT)]
# Numbers every JSON reader (and PostgreSQL) can hold: no NaN or Infinity, ints within 64 bits
# (larger ones become floats; one of 10**5000 could not even be serialised).
PropValue = Value | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | FiniteFloat | bool | None

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class WireEvent(BaseModel):
    """One event as the agent recorded it."""

    model_config = _STRICT

    id: EventId = Field(description="UUIDv7 made by the agent when the event was recorded")
    seq: Seq = Field(description="position in the agent's stream, 1, 2, 3... with no reuse")
    kind: Kind = Field(description="session_start, session_end, feature_use, or another kind")
    feature: Name | None = Field(default=None, description="required for feature_use")
    session_id: Id | None = None
    user_id: Id | None = None
    ts: Millis = Field(description="device wall clock when recorded (may be wrong)")
    mono: Millis | None = Field(default=None, description="device monotonic clock, ms since boot")
    boot: Id | None = Field(default=None, description="boot id the monotonic clock belongs to")
    device_type: Name
    firmware_version: Name
    account_id: Id
    labels: dict[Key, Value] = Field(default_factory=dict, max_length=L.MAX_LABELS)
    props: dict[Key, PropValue] = Field(default_factory=dict, max_length=L.MAX_PROPS)

    @model_validator(mode="after")
    def _feature_when_needed(self) -> WireEvent:
        if self.kind == "feature_use" and self.feature is None:
            raise ValueError("feature_use needs a feature")
        return self


class Anchor(BaseModel):
    """Collector time seen by the agent at an instant of its monotonic clock (from an ack)."""

    model_config = _STRICT

    boot: Id
    mono: Millis
    true_ms: Millis


class DropRange(BaseModel):
    """Events the agent itself dropped (e.g. buffer overflow), reported so loss is attributed."""

    model_config = _STRICT

    first_seq: Seq
    last_seq: Seq
    reason: Kind

    @model_validator(mode="after")
    def _ordered(self) -> DropRange:
        if self.last_seq < self.first_seq:
            raise ValueError("drop range reversed: last_seq < first_seq")
        return self

    @property
    def size(self) -> int:
        return self.last_seq - self.first_seq + 1


class BatchHeader(BaseModel):
    """Everything in a batch but its events. The collector validates events one by one so that
    one bad event is quarantined without taking the others with it."""

    model_config = _STRICT

    v: Literal[1] = 1
    device_id: Id
    stream_id: Id = Field(description="random, new whenever the agent's buffer is created afresh")
    first_seq: Seq
    last_seq: Seq
    sent_ms: Millis = Field(description="device wall clock at send time")
    sent_mono: Millis = Field(description="device monotonic clock at send time")
    boot: Id
    anchors: list[Anchor] = Field(default_factory=list, max_length=8)
    drops: list[DropRange] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _range_ordered(self) -> BatchHeader:
        if self.last_seq < self.first_seq:
            raise ValueError("last_seq < first_seq")
        if sum(d.size for d in self.drops) > L.MAX_DROPPED_PER_BATCH:
            raise ValueError(f"drops declare more than {L.MAX_DROPPED_PER_BATCH} events")
        return self


class Batch(BatchHeader):
    events: list[WireEvent] = Field(max_length=L.MAX_EVENTS_PER_BATCH)


class Ack(BaseModel):
    """Sent by the collector after the commit that stored or quarantined every event of a batch."""

    model_config = _STRICT

    v: Literal[1] = 1
    stream_id: Id
    first_seq: Seq
    last_seq: Seq
    stored: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    quarantined: int = Field(ge=0)
    collector_ms: Millis = Field(description="collector wall clock, lets agents correct theirs")


class AgentStatus(BaseModel):
    """Retained on pes/v1/dev/{id}/status; the last will says state=offline."""

    model_config = _STRICT

    v: Literal[1] = 1
    device_id: Id
    state: Literal["online", "offline"]
    version: Annotated[str, StringConstraints(max_length=32)] = ""
    buffer_depth: StatusCount = 0
    oldest_age_s: float | None = Field(default=None, ge=0, le=L.MAX_STATUS_AGE_S)
    dropped: StatusCount = 0
    last_ack_ms: Millis | None = None
    sent_ms: Millis = 0
    # "off": the operator withdrew consent, the agent records nothing new (older agents: "on").
    collection: Literal["on", "off"] = "on"
    # Remote configuration: the versions applied ("fleet=3;type=7;device=2"), or why the latest
    # message was refused (then the previous one stays applied).
    config_version: Annotated[str, StringConstraints(max_length=200)] | None = None
    config_error: Annotated[str, StringConstraints(max_length=300)] | None = None
