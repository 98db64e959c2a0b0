"""From bytes on the wire (or lines of an import file) to rows to store: validation, spoof check,
clock correction and quarantine. Pure: no I/O, so every rule is unit-testable.

One bad event never takes the others of its batch with it: the envelope is validated first, then
each event on its own; what fails is quarantined with a reason and still acknowledged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from collector.ingest import fastwire
from collector.ingest.rows import RowMaker
from collector.records import AckTarget, EventRow, ParsedMessage, QuarantineRow
from shared import clock, codec
from shared import limits as L
from shared.errors import InvalidPayload
from shared.models import (
    Batch,
    BatchHeader,
    EventId,
    Id,
    Kind,
    Name,
    WireEvent,
)
from shared.topics import device_from_topic

MAX_RAW_KEPT = 64 * 1024  # quarantine keeps at most this much of a raw payload


def _reason(exc: ValidationError) -> tuple[str, str]:
    errs = exc.errors(include_url=False, include_input=False)
    first = errs[0] if errs else {"loc": (), "msg": str(exc)}
    # A short code naming one of the model's own fields (it labels metrics and groups the
    # quarantine): never a label key or an unknown field's name, which the sender chooses.
    loc = first["loc"]
    extra = first.get("type") == "extra_forbidden"
    where = "unknown_field" if extra else str(loc[0]) if loc else "event"
    return f"invalid:{where}"[:64], "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errs[:5]
    )[:500]


def parse_batch(
    topic: str,
    payload: bytes,
    content_type: str | None,
    received_ms: int,
    tz: ZoneInfo,
    *,
    fast: bool = True,
) -> ParsedMessage:
    """The records of one MQTT message. `fast=False` skips the msgspec path (fastwire.py): the
    records are the same either way (tests/unit/collector/ingest/test_fastwire_parity.py); the
    benchmarks use it as their same-run baseline."""
    out = ParsedMessage()
    raw = payload[:MAX_RAW_KEPT]
    try:
        topic_device, _ = device_from_topic(topic)
    except InvalidPayload as exc:
        out.quarantined.append(QuarantineRow(topic[:256], None, exc.reason, exc.detail, raw))
        return out
    try:
        data = codec.inflate(payload, content_type)
    except InvalidPayload as exc:
        out.quarantined.append(QuarantineRow(topic, topic_device, exc.reason, exc.detail, raw))
        return out
    if fast and (valid := fastwire.parse_valid(topic_device, data, received_ms, tz)) is not None:
        return valid  # nothing to quarantine: msgspec's decoding was enough (fastwire.py)
    try:
        # One call parses and validates the whole batch (pydantic-core, in Rust).
        batch = Batch.model_validate_json(data)
    except ValidationError:
        return _parse_slowly(out, topic, topic_device, data, raw, received_ms, tz)
    if _accept_header(out, topic, topic_device, batch, len(batch.events), raw):
        _accept_events(out, topic, topic_device, batch, batch.events, received_ms, tz)
    return out


def _parse_slowly(
    out: ParsedMessage,
    topic: str,
    topic_device: str,
    data: bytes,
    raw: bytes,
    received_ms: int,
    tz: ZoneInfo,
) -> ParsedMessage:
    """Something in the batch is invalid: find what, quarantine it, keep the rest."""
    try:
        doc, items = _read_envelope(data)
        header = BatchHeader.model_validate(doc)
    except InvalidPayload as exc:
        out.quarantined.append(QuarantineRow(topic, topic_device, exc.reason, exc.detail, raw))
        out.ack = _salvage_ack(topic_device, data)
        return out
    except ValidationError as exc:
        _, detail = _reason(exc)
        out.quarantined.append(QuarantineRow(topic, topic_device, "bad_envelope", detail, raw))
        out.ack = _salvage_ack(topic_device, data)
        return out
    if not _accept_header(out, topic, topic_device, header, len(items), raw):
        return out
    valid: list[WireEvent] = []
    for item in items:
        if isinstance(item, _Unreadable):
            out.quarantined.append(
                QuarantineRow(topic, topic_device, item.reason, item.detail, item.raw)
            )
            continue
        try:
            valid.append(WireEvent.model_validate(item))
        except ValidationError as exc:
            reason, detail = _reason(exc)
            out.quarantined.append(
                QuarantineRow(topic, topic_device, reason, detail, _raw_item(item))
            )
    _accept_events(out, topic, topic_device, header, valid, received_ms, tz)
    return out


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """One event of a batch that JSON cannot read (a number of over 4,300 digits, nesting
    too deep, bad UTF-8): quarantined on its own."""

    reason: str
    detail: str
    raw: bytes


# The tokens that give a JSON text its structure: strings (skipped whole, whatever bytes they
# hold) and brackets and commas. Enough to find the events array and its items' boundaries.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
_EVENTS_KEY = b'"events"'


def _read_envelope(data: bytes) -> tuple[dict[str, Any], list[Any]]:
    """The batch's header fields and its events, each parsed on its own when the whole does
    not parse, so that one unreadable event does not take its neighbours with it. Raises
    InvalidPayload when the envelope itself cannot be read."""
    try:
        doc = codec.loads(data)
        items: list[Any] | None = None
    except InvalidPayload as whole:
        split = _split_events(data)
        if split is None:
            raise
        envelope, parts = split
        try:
            doc = codec.loads(envelope)
        except InvalidPayload:
            raise whole from None
        items = [_read_item(p) for p in parts]
    if not isinstance(doc, dict):
        raise InvalidPayload("bad_envelope", "a batch must be a JSON object")
    listed = doc.pop("events", None)
    if not isinstance(listed, list):
        raise InvalidPayload("bad_envelope", "events must be a list")
    return doc, listed if items is None else items


def _read_item(part: bytes) -> Any:
    try:
        return codec.loads(part)
    except InvalidPayload as exc:
        return _Unreadable(exc.reason, exc.detail, part[:MAX_RAW_KEPT])


def _split_events(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """(the batch with `"events": []`, the bytes of each event) found by scanning the JSON's
    structure; None if there is no top-level events array to split."""
    depth = 0
    last: bytes = b""  # the last string token seen at depth 1: the key before a value
    start = end = item = -1
    parts: list[bytes] = []
    for m in _TOKEN.finditer(data):
        tok = m.group()
        if tok[:1] == b'"':
            if depth == 1:
                last = tok
            continue
        if tok in (b"[", b"{"):
            depth += 1
            if depth == 2 and tok == b"[" and start < 0 and last == _EVENTS_KEY:
                start = item = m.end()
        elif tok in (b"]", b"}"):
            if depth == 2 and start >= 0 and end < 0 and tok == b"]":
                parts.append(data[item : m.start()])
                end = m.start()
            depth -= 1
        elif depth == 2 and start >= 0 and end < 0:  # a comma between two events
            parts.append(data[item : m.start()])
            item = m.end()
    if end < 0 or depth != 0:
        return None
    if len(parts) == 1 and not parts[0].strip():
        parts = []
    return data[:start] + data[end:], parts


_HEADER_FIELD = {
    key: re.compile(rb'"' + key.encode() + rb'"\s*:\s*("[A-Za-z0-9._:\-]{1,64}"|\d{1,16})')
    for key in ("stream_id", "first_seq", "last_seq")
}


def _salvage_ack(topic_device: str, data: bytes) -> AckTarget | None:
    """Whom to acknowledge a batch whose envelope is refused: its stream and range, if they can
    be read at all, so that its agent drops the batch (quarantined, with the reason) instead of
    resending it for ever. Acked to the topic's device: the only one it can speak for."""
    found: dict[str, str] = {}
    for key, pattern in _HEADER_FIELD.items():
        m = pattern.search(data)
        if m is None:
            return None
        found[key] = m.group(1).decode()
    stream = found["stream_id"].strip('"')
    try:
        first, last = int(found["first_seq"]), int(found["last_seq"])
    except ValueError:
        return None
    if not re.fullmatch(L.ID_PATTERN, stream) or not 1 <= first <= last <= L.MAX_SEQ:
        return None
    return AckTarget(topic_device, stream, first, last)


def _accept_header(
    out: ParsedMessage,
    topic: str,
    topic_device: str,
    header: BatchHeader,
    n_events: int,
    raw: bytes,
) -> bool:
    out.ack = AckTarget(topic_device, header.stream_id, header.first_seq, header.last_seq)
    if n_events > L.MAX_EVENTS_PER_BATCH:
        # Acked (resending the same batch cannot help) but quarantined whole.
        detail = f"{n_events} > {L.MAX_EVENTS_PER_BATCH}"
        out.quarantined.append(QuarantineRow(topic, topic_device, "too_many_events", detail, raw))
        return False
    if header.device_id != topic_device:
        detail = f"payload says {header.device_id!r}, topic says {topic_device!r}"
        out.quarantined.append(QuarantineRow(topic, topic_device, "spoofed_device_id", detail, raw))
        return False
    out.stream = out.ack
    out.drops = [(d.first_seq, d.last_seq, d.reason) for d in header.drops]
    return True


def _accept_events(
    out: ParsedMessage,
    topic: str,
    topic_device: str,
    header: BatchHeader,
    events: Iterable[WireEvent],
    received_ms: int,
    tz: ZoneInfo,
) -> None:
    anchors = {a.boot: (a.mono, a.true_ms) for a in header.anchors}
    rows = RowMaker(tz)
    for ev in events:
        if not header.first_seq <= ev.seq <= header.last_seq:
            detail = f"seq {ev.seq} outside {header.first_seq}..{header.last_seq}"
            out.quarantined.append(
                QuarantineRow(topic, topic_device, "seq_out_of_range", detail, _raw_event(ev))
            )
            continue
        fix = clock.correct(
            wall_ms=ev.ts,
            mono=ev.mono,
            boot=ev.boot,
            anchors=anchors,
            batch_boot=header.boot,
            sent_mono=header.sent_mono,
            received_ms=received_ms,
        )
        if fix is None:
            detail = f"wall clock {ev.ts} implausible and no anchor for boot {ev.boot!r}"
            out.quarantined.append(
                QuarantineRow(topic, topic_device, "clock_unknown", detail, _raw_event(ev))
            )
            continue
        out.events.append(rows.make(topic_device, header.stream_id, ev, fix))


def _raw_event(ev: WireEvent) -> bytes:
    return ev.model_dump_json().encode()[:MAX_RAW_KEPT]


def _raw_item(item: Any) -> bytes:
    try:
        return codec.dumps(item)[:MAX_RAW_KEPT]
    except (TypeError, ValueError):
        return repr(item).encode()[:MAX_RAW_KEPT]


class ImportLine(BaseModel):
    """One line of an import file (the format of the PES worked example)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId
    device_id: Id
    account_id: Id
    device_type: Name
    firmware_version: Name
    kind: Kind
    feature: Name | None = None
    ts: datetime
    session_id: Id | None = None
    user_id: Id | None = None
    labels: dict[str, str] = Field(default_factory=dict, max_length=L.MAX_LABELS)
    props: dict[str, Any] = Field(default_factory=dict, max_length=L.MAX_PROPS)


def parse_import_line(
    line: str, source: str, received_ms: int, tz: ZoneInfo
) -> EventRow | QuarantineRow:
    """Validate one import line with the same rules as MQTT ingest (the event model included)."""
    raw = line.encode(errors="backslashreplace")[:MAX_RAW_KEPT]  # lone surrogates, too
    try:
        doc: Any = json.loads(line)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an int over 4,300 digits
        return QuarantineRow(source, None, "bad_json", str(exc)[:200], raw)
    try:
        if not isinstance(doc, dict):
            raise InvalidPayload("bad_json", "a line must be a JSON object")
        imp = ImportLine.model_validate(doc)
        ts = imp.ts if imp.ts.tzinfo else imp.ts.replace(tzinfo=UTC)
        wall_ms = int(ts.timestamp() * 1000)
        # Reuse the wire model's checks (feature required for feature_use, label and prop limits).
        ev = WireEvent.model_validate(
            {
                "id": imp.id,
                "seq": 1,
                "kind": imp.kind,
                "feature": imp.feature,
                "session_id": imp.session_id,
                "user_id": imp.user_id,
                "ts": wall_ms,
                "device_type": imp.device_type,
                "firmware_version": imp.firmware_version,
                "account_id": imp.account_id,
                "labels": imp.labels,
                "props": imp.props,
            }
        )
    except InvalidPayload as exc:
        return QuarantineRow(source, None, exc.reason, exc.detail, raw)
    except ValidationError as exc:
        reason, detail = _reason(exc)
        device = doc.get("device_id")  # a dict here: the check above raised otherwise
        return QuarantineRow(
            source, device if isinstance(device, str) else None, reason, detail, raw
        )
    # Imported history carries true UTC timestamps and no stream: nothing to correct or track.
    try:
        row = RowMaker(tz).make(imp.device_id, None, ev, clock.Correction(wall_ms, "wall"))
    except (ValueError, OverflowError) as exc:  # its date in `tz` is after the year 9999
        return QuarantineRow(source, imp.device_id, "invalid:ts", str(exc)[:200], raw)
    return row._replace(seq=None)
