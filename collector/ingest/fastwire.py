"""The fast path for valid batches: msgspec decodes a whole batch into plain structs (about a
quarter of pydantic-core's time), then the few rules msgspec's types do not say are checked in
Python (patterns against memos of the batch's repeated names, the model validators, number
ranges). Anything this path does not accept outright, it refuses (None), and parse.py runs the
pydantic path on the same bytes: every quarantine row, its reason and detail still come from
pydantic and shared/models.py, byte for byte.

One source of truth: shared/models.py (and shared/limits.py) is the contract. The structs here
use the same names and limits (the list bounds are read from the pydantic models);
tests/unit/collector/ingest/test_fastwire_parity.py proves that for any input this path either
refuses or returns exactly the records of the pydantic path. Change the contract in shared/
first; that test then says what to change here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from operator import attrgetter
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec
from annotated_types import MaxLen
from msgspec import UNSET, Meta, Struct, UnsetType, field
from pydantic import BaseModel

from collector.ingest.rows import RowMaker
from collector.records import AckTarget, EventRow, ParsedMessage
from shared import clock
from shared import limits as L
from shared.models import UUID_PATTERN, BatchHeader


def _full(pattern: str) -> re.Pattern[str]:
    """A `^...$` pattern for Python's re: there `$` also matches before a final newline,
    pydantic-core's (Rust's) does not; `\\Z` does not either."""
    return re.compile(pattern.removesuffix("$") + r"\Z")


def _max_len(model: type[BaseModel], name: str) -> int:
    """A list field's max_length, read from the pydantic model (it is not in shared.limits)."""
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, MaxLen):
            return int(meta.max_length)
    raise LookupError(f"{model.__name__}.{name} has no max_length")


_ID = _full(L.ID_PATTERN).match
_NAME = _full(L.NAME_PATTERN).match
_KIND = _full(L.KIND_PATTERN).match
_UUID = _full(UUID_PATTERN).match
_UUID_BODY = UUID_PATTERN.removeprefix("^").removesuffix("$")
_UUIDS = re.compile(f"(?:{_UUID_BODY}\n)*{_UUID_BODY}\\Z").match
INT64 = (-(2**63), 2**63 - 1)
_new_row = tuple.__new__
_SEQ, _EVENT_ID, _EVENT_KIND, _FEATURE = (attrgetter(n) for n in ("seq", "id", "kind", "feature"))
_DEVICE_TYPE, _FIRMWARE = attrgetter("device_type"), attrgetter("firmware_version")
_ACCOUNT, _SESSION, _USER, _BOOT = (
    attrgetter(n) for n in ("account_id", "session_id", "user_id", "boot")
)

# Strings are only bounded here; their patterns (Python's re, ~0.5 us each if msgspec ran them
# on every string) are checked after decoding, once per distinct value in a batch.
_Str = Annotated[str, Meta(max_length=max(L.MAX_ID_LEN, L.MAX_NAME_LEN))]
_Uuid = Annotated[str, Meta(max_length=36)]
Millis = Annotated[int, Meta(ge=0, le=L.MAX_SEQ)]
Seq = Annotated[int, Meta(ge=1, le=L.MAX_SEQ)]
Key = Annotated[str, Meta(min_length=1, max_length=L.MAX_KEY_LEN)]
Value = Annotated[str, Meta(max_length=L.MAX_VALUE_LEN)]
# Ints beyond 64 bits (which pydantic turns into floats) are refused after decoding.
PropValue = Value | int | float | bool | None


class Event(Struct, forbid_unknown_fields=True, gc=False):
    """shared.models.WireEvent."""

    id: _Uuid
    seq: Seq
    kind: _Str
    ts: Millis
    device_type: _Str
    firmware_version: _Str
    account_id: _Str
    feature: _Str | None = None
    session_id: _Str | None = None
    user_id: _Str | None = None
    mono: Millis | None = None
    boot: _Str | None = None
    # UNSET when absent, not a fresh empty dict: two dicts per event were most of the
    # allocations the garbage collector counted on this path. An explicit null is still
    # refused (UnsetType matches no JSON value), as pydantic refuses it.
    labels: Annotated[dict[Key, Value], Meta(max_length=L.MAX_LABELS)] | UnsetType = UNSET
    props: Annotated[dict[Key, PropValue], Meta(max_length=L.MAX_PROPS)] | UnsetType = UNSET


class Anchor(Struct, forbid_unknown_fields=True, gc=False):
    """shared.models.Anchor."""

    boot: _Str
    mono: Millis
    true_ms: Millis


class DropRange(Struct, forbid_unknown_fields=True, gc=False):
    """shared.models.DropRange."""

    first_seq: Seq
    last_seq: Seq
    reason: _Str


class Batch(Struct, forbid_unknown_fields=True):
    """shared.models.Batch (BatchHeader and its events)."""

    device_id: _Str
    stream_id: _Str
    first_seq: Seq
    last_seq: Seq
    sent_ms: Millis
    sent_mono: Millis
    boot: _Str
    events: Annotated[list[Event], Meta(max_length=L.MAX_EVENTS_PER_BATCH)]
    # pydantic's Literal[1] also takes 1.0 and true: those are refused here (strict int).
    v: int = 1
    anchors: Annotated[list[Anchor], Meta(max_length=_max_len(BatchHeader, "anchors"))] = field(
        default_factory=list
    )
    drops: Annotated[list[DropRange], Meta(max_length=_max_len(BatchHeader, "drops"))] = field(
        default_factory=list
    )


_DECODER = msgspec.json.Decoder(Batch)


def parse_valid(
    topic_device: str, data: bytes, received_ms: int, tz: ZoneInfo
) -> ParsedMessage | None:
    """The records of a batch (JSON bytes, inflated) whose every part is valid and stored as is;
    None when anything in it would be refused or quarantined by the pydantic path (or when it
    is merely unusual: a float for an int, a number beyond 64 bits), which then decides."""
    try:
        b = _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not _header_ok(b, topic_device):
        return None
    events = _rows(b, topic_device, received_ms, tz)
    if events is None:
        return None
    ack = AckTarget(topic_device, b.stream_id, b.first_seq, b.last_seq)
    drops = [(d.first_seq, d.last_seq, d.reason) for d in b.drops]
    return ParsedMessage(events=events, ack=ack, stream=ack, drops=drops)


def _header_ok(b: Batch, topic_device: str) -> bool:
    """BatchHeader's rules (a spoofed device id is left to the pydantic path, which says so)."""
    if b.v != 1 or b.device_id != topic_device or b.last_seq < b.first_seq:
        return False
    if not (_ID(b.device_id) and _ID(b.stream_id) and _ID(b.boot)):
        return False
    if not all(_ID(a.boot) for a in b.anchors):
        return False
    dropped = 0
    for d in b.drops:
        if d.last_seq < d.first_seq or not _KIND(d.reason):
            return False
        dropped += d.last_seq - d.first_seq + 1
    return dropped <= L.MAX_DROPPED_PER_BATCH


def _rows(b: Batch, device: str, received_ms: int, tz: ZoneInfo) -> list[EventRow] | None:
    """Every event's row, or None if any event is not valid and placeable as is."""
    events = b.events
    if not events:
        return []
    if not _fields_ok(b):
        return None
    stream, boot, sent_mono = b.stream_id, b.boot, b.sent_mono
    anchors = {a.boot: (a.mono, a.true_ms) for a in b.anchors}
    rows = RowMaker(tz)
    days = rows.days
    out: list[EventRow] = []
    append = out.append
    lowest, latest = L.MIN_PLAUSIBLE_MS, received_ms + L.MAX_FUTURE_SKEW_MS
    agree = clock.AGREE_MS
    for ev in events:
        props = ev.props
        if props and not _props_ok(props):
            return None
        # shared.clock.correct, inlined (its keyword call and Correction tuple were one of this
        # loop's largest costs under cProfile); the same comparisons in the same order, and the
        # parity test's clock cases run every method and the agreement edges through both.
        wall = ev.ts
        wall_ok = lowest <= wall <= latest
        mono, ev_boot = ev.mono, ev.boot
        est = None
        if mono is not None and ev_boot is not None:
            anchor = anchors.get(ev_boot)
            if anchor is not None:
                est, method = anchor[1] + (mono - anchor[0]), "anchor"
            elif ev_boot == boot:  # the batch's boot; its sent_mono is always there
                est, method = received_ms - (sent_mono - mono), "receive"
            if est is not None and not lowest <= est <= latest:
                est = None
        if est is not None and not (wall_ok and -agree <= est - wall <= agree):
            ts_ms = est
        elif wall_ok:
            ts_ms, method = wall, "wall"
        else:
            return None
        # RowMaker.make, inlined (a third of this loop's time was its calls); the row built
        # with tuple.__new__, not EventRow(...), whose generated __new__ is a Python frame.
        labels = ev.labels
        append(
            _new_row(EventRow, (
                device, ev.id, stream, ev.seq, ev.kind, ev.feature, ev.session_id, ev.user_id,
                ts_ms, wall, method, days.get(ts_ms // 900_000) or rows.day(ts_ms),
                ev.device_type, ev.firmware_version, ev.account_id,
                rows.labels(labels) if labels else "{}", rows.props(props) if props else "{}",
            ))
        )  # fmt: skip
    return out


def _fields_ok(b: Batch) -> bool:
    """The events' rules that do not depend on the clock, checked over the whole batch with
    C-level passes (the per-event loop was most of this module's time): seqs within the
    batch's range, ids as UUIDs, and each distinct kind, name and id against its pattern once."""
    events = b.events
    seqs = list(map(_SEQ, events))
    if min(seqs) < b.first_seq or max(seqs) > b.last_seq:
        return False
    # One regex over the ids joined by a newline, which the pattern cannot match: as many
    # newlines as gaps means that no id holds one, so the pieces the pattern matched are the ids.
    joined = "\n".join(map(_EVENT_ID, events))
    if joined.count("\n") != len(events) - 1 or _UUIDS(joined) is None:
        return False
    kinds = set(map(_EVENT_KIND, events))
    if not all(map(_KIND, kinds)):
        return False
    names = set(map(_FEATURE, events))
    if None in names:
        names.discard(None)
        if "feature_use" in kinds and any(
            e.feature is None and e.kind == "feature_use" for e in events
        ):
            return False
    names.update(map(_DEVICE_TYPE, events), map(_FIRMWARE, events))
    if not all(map(_NAME, names)):
        return False
    ids = set(map(_ACCOUNT, events))
    ids.update(map(_SESSION, events), map(_USER, events), map(_BOOT, events))
    ids.discard(None)
    return all(map(_ID, ids))


def _remember(value: str, match: Callable[[str], re.Match[str] | None], memo: set[str]) -> bool:
    if match(value) is None:
        return False
    memo.add(value)
    return True


def _props_ok(props: dict[str, PropValue]) -> bool:
    """shared.models.PropValue beyond msgspec's types: ints within 64 bits (pydantic makes
    larger ones floats: left to it), finite floats."""
    for v in props.values():
        if type(v) is int:
            if not INT64[0] <= v <= INT64[1]:
                return False
        elif type(v) is float and not math.isfinite(v):
            return False
    return True
