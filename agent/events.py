"""Making one event: check the caller's fields, stamp ids and clocks, merge defaults from the
settings. Shared by Agent.record(), the local socket and `pes-agent emit`, so all write the same
shape.

Fast on purpose (it runs for every event, 100,000 a second): the caller's fields are checked by
msgspec against agent/wire.py's EventFields (the wire contract's field rules; the equivalence
with shared/'s pydantic models is tested), then the event is assembled as a plain dict. Ids,
clocks and the device's identity are made here or were validated with the settings, so the
result is a valid WireEvent without validating it again (tests/unit/agent/test_events.py
checks that)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from agent import firmware as fw
from agent.errors import InvalidEvent
from agent.ids import boot_id, uuid7
from agent.settings import AgentSettings
from agent.wire import EventFields, FastFields, check_props, encode, finite, names_ok
from shared import limits as L

__all__ = [
    "EventFields",
    "Factory",
    "check_json",
    "check_json_lines",
    "check_python",
    "check_python_many",
    "event_body",
    "lean",
]

_ONE = msgspec.json.Decoder(EventFields)
_FAST_MANY = msgspec.json.Decoder(list[FastFields])


def check_python(fields: Mapping[str, Any]) -> EventFields:
    """Check a caller's fields given as a mapping (record(), record_many(), emit)."""
    given = fields if isinstance(fields, dict) else dict(fields)
    try:  # the fast path (agent/wire.py, FastFields), then the full one for its verdict
        fast = msgspec.convert(given, FastFields, strict=True)
        # FastFields' types bound strings and ints already: of check_props' rules only finite
        # floats are left (Python floats may be inf or nan; the full path then says so).
        if names_ok(fast) and (not fast.props or finite(fast.props)):
            return fast
    except (msgspec.ValidationError, ValueError, TypeError):
        pass
    try:
        return _finish(msgspec.convert(given, EventFields, strict=True))
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise InvalidEvent(explain(exc)) from exc


def check_python_many(events: Sequence[Mapping[str, Any]]) -> list[EventFields]:
    """check_python() of each (record_many()); InvalidEvent names the first bad one's index.
    All dicts and all fine (the common case): one msgspec call for all of them."""
    if all(type(ev) is dict for ev in events):
        try:
            fast = msgspec.convert(events, list[FastFields], strict=True)
        except (msgspec.ValidationError, ValueError, TypeError):
            fast = None
        if (
            fast is not None
            and all(map(names_ok, fast))
            and all(finite(f.props) for f in fast if f.props)
        ):
            return list(fast)
    out = []
    for i, ev in enumerate(events):
        try:
            out.append(check_python(ev))
        except InvalidEvent as exc:
            raise InvalidEvent(f"event {i}: {exc}") from exc
    return out


def check_json(line: bytes) -> EventFields:
    """Parse and check one JSON object (a socket line) in one pass."""
    try:
        return _finish(_ONE.decode(line))
    except msgspec.DecodeError as exc:
        raise InvalidEvent(explain(exc)) from exc
    except ValueError as exc:
        raise InvalidEvent(explain(exc)) from exc


def check_json_lines(lines: list[bytes]) -> list[EventFields | str]:
    """Check many socket lines: per line, its fields or the error message. One msgspec call
    for all of them when all are fine (the common case: it saves the per-call overhead)."""
    many: list[FastFields] | None
    try:
        # FastFields: the types bound every value (JSON numbers are finite, property ints
        # within 64 bits), only the names' patterns are left to check.
        many = _FAST_MANY.decode(b"[" + b",".join(lines) + b"]")
    except msgspec.DecodeError:
        many = None
    # A line holding two objects ('{...},{...}') would shift the rest: then line by line.
    if many is not None and len(many) == len(lines) and all(map(names_ok, many)):
        return list(many)
    out: list[EventFields | str] = []
    for line in lines:
        try:
            out.append(check_json(line))
        except InvalidEvent as exc:
            out.append(str(exc))
    return out


def _finish(f: EventFields) -> EventFields:
    """The rules the types cannot say: property values (agent/wire.py, check_props)."""
    if f.props:
        f.props = check_props(f.props)
    return f


def build(settings: AgentSettings, f: EventFields) -> dict[str, Any]:
    """The event as stored in the buffer: a WireEvent without `seq`, defaults left out."""
    return Factory(settings).build(f)


class Factory:
    """Builds events for one device (its identity and labels read from the settings once).

    An explicit `ts` (a backfill, or equipment with its own clock) is the caller's claim about
    when it happened: the monotonic reading of *now* would contradict it, so it has none."""

    def __init__(self, settings: AgentSettings, firmware: str | None = None) -> None:
        """`firmware`: the version to stamp (the Agent reads it from its source, and sets
        `firmware_version` again on a reload); default: the settings' firmware, read from
        firmware_file / firmware_command if one is set."""
        self.device_type = settings.device_type
        self.account_id = settings.account_id
        self.labels = dict(settings.labels)
        self._firmware = firmware if firmware is not None else firmware_of(settings)
        # The identity's JSON, made once (identity_tail): device_type, account_id and labels
        # are fixed for a Factory's life, firmware_version's setter makes it again.
        self._tail: bytes | None = None
        self._tail_str: str | None = None  # the same, decoded (lean_body)
        self._mid, self._mid_now, self._mid_mono = "", -1, -1  # lean_body's, for these clocks
        self._boot = boot_id()
        self._clock = self.mono_clock = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)

    @property
    def firmware_version(self) -> str:
        return self._firmware

    @firmware_version.setter
    def firmware_version(self, version: str) -> None:
        # The one identity field that changes while running (a reload): events made from here
        # on get the new one, through a new tail.
        self._firmware, self._tail, self._tail_str = version, None, None

    def identity_tail(self) -> bytes:
        """`,"device_type":...,"firmware_version":...,"account_id":...,"labels":{...}`: the
        part of every event's body that is the same for all events keeping the device's own
        identity, encoded once instead of once per event."""
        tail = self._tail
        if tail is None:
            ident: dict[str, Any] = {
                "device_type": self.device_type,
                "firmware_version": self._firmware,
                "account_id": self.account_id,
            }
            if self.labels:
                ident["labels"] = self.labels
            tail = self._tail = b"," + encode(ident)[1:-1]
        return tail

    def lean_body(
        self,
        event_id: str,
        kind: str,
        feature: str | None,
        session_id: str | None,
        user_id: str | None,
        now: int,
        mono: int,
        props: dict[str, Any] | None,
    ) -> str:
        """event_body(*make(...)) of the common event, in one step without a dict: recorded
        now, the device's own identity, the session (if any) already decided. The names and
        ids must have passed their patterns (EventFields, or wire.known()): those allow no
        character JSON escapes, so they go in as they are; `props` as checked
        (wire.lean_props, or FastFields) is encoded by the same encoder as event_body's. The
        same bytes as make() + event_body() (tests/unit/agent/test_events.py)."""
        if now != self._mid_now or mono != self._mid_mono or self._tail_str is None:
            # The clocks, boot and identity: the same for every event of one millisecond
            # (all of a socket read or a record_many() call), so formatted once for them.
            if self._tail_str is None:
                self._tail_str = self.identity_tail().decode()
            self._mid = f',"ts":{now},"mono":{mono},"boot":"{self._boot}"{self._tail_str}'
            self._mid_now, self._mid_mono = now, mono
        if feature is not None and session_id is not None and user_id is not None:
            # The usual shape (a feature_use in an automatic session): one f-string, not
            # five concatenations (~0.2 us of ~0.5 per body, timeit).
            if props:
                return (f'{{"id":"{event_id}","kind":"{kind}","feature":"{feature}",'
                        f'"session_id":"{session_id}","user_id":"{user_id}"{self._mid},'
                        f'"props":{encode(props).decode()}}}')  # fmt: skip
            return (f'{{"id":"{event_id}","kind":"{kind}","feature":"{feature}",'
                    f'"session_id":"{session_id}","user_id":"{user_id}"{self._mid}}}')  # fmt: skip
        body = f'{{"id":"{event_id}","kind":"{kind}"'
        if feature is not None:
            body += f',"feature":"{feature}"'
        if session_id is not None:
            body += f',"session_id":"{session_id}"'
        if user_id is not None:
            body += f',"user_id":"{user_id}"'
        body += self._mid
        if props:
            return f'{body},"props":{encode(props).decode()}}}'
        return body + "}"

    def clocks(self) -> tuple[int, int]:
        """(wall ms, monotonic ms) now: what an event recorded now carries."""
        return time.time_ns() // 1_000_000, time.clock_gettime_ns(self._clock) // 1_000_000

    def make(
        self, f: EventFields, event_id: str | None = None, clocks: tuple[int, int] | None = None
    ) -> tuple[dict[str, Any], bytes | None]:
        """build(), cheaper for the common event that keeps the device's identity: its
        per-event fields and identity_tail() (event_body() joins them into the same JSON).
        An event that overrides any identity field gets build()'s dict and None.

        `clocks`: a clocks() reading to stamp instead of reading them again, for events handed
        over together (record_many(), the lines of one socket read): recorded at one instant."""
        if f.device_type or f.firmware_version or f.account_id or f.labels:
            return self.build(f, event_id, clocks), None
        doc = self._head(f, event_id, clocks)
        if props := f.props:
            doc["props"] = props
        return doc, self.identity_tail()

    def _head(
        self, f: EventFields, event_id: str | None, clocks: tuple[int, int] | None
    ) -> dict[str, Any]:
        """The per-event fields every built event starts with, in the wire's key order: id,
        kind, feature, session and user, and the time (with the monotonic clock and boot id
        when the caller gave no timestamp)."""
        kind = f.kind
        feature = f.feature
        if feature is None and kind == "feature_use":
            raise InvalidEvent("invalid event: feature_use needs a feature")
        ts = f.ts
        if ts is None:
            if clocks is None:  # one wall-clock reading for the id and ts
                now = time.time_ns() // 1_000_000
                mono = time.clock_gettime_ns(self._clock) // 1_000_000
            else:
                now, mono = clocks
            doc: dict[str, Any] = {"id": event_id or uuid7(now), "kind": kind}
        else:
            doc = {"id": event_id or uuid7(), "kind": kind}
        if feature is not None:
            doc["feature"] = feature
        if (sid := f.session_id) is not None:
            doc["session_id"] = sid
        if (uid := f.user_id) is not None:
            doc["user_id"] = uid
        if ts is None:
            doc["ts"] = now
            doc["mono"] = mono
            doc["boot"] = self._boot
        else:
            doc["ts"] = ts
        return doc

    def build(
        self, f: EventFields, event_id: str | None = None, clocks: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        doc = self._head(f, event_id, clocks)
        doc["device_type"] = f.device_type or self.device_type
        doc["firmware_version"] = f.firmware_version or self.firmware_version
        doc["account_id"] = f.account_id or self.account_id
        labels = self.labels
        if extra := f.labels:
            # Per-event labels refine the device's labels rather than replace them.
            labels = {**labels, **extra}
            if len(labels) > L.MAX_LABELS:
                raise InvalidEvent(
                    f"invalid event: labels: more than {L.MAX_LABELS} with the device's"
                )
        if labels:
            doc["labels"] = labels
        if props := f.props:
            doc["props"] = props
        return doc

    def internal(self, ev: Mapping[str, Any]) -> dict[str, Any]:
        """An event the agent writes itself (session_start/session_end of an automatic
        session), with the clock readings it was given: when the session started or ended."""
        doc: dict[str, Any] = {"id": uuid7(), "kind": ev["kind"]}
        for key in ("session_id", "user_id"):
            if ev.get(key) is not None:
                doc[key] = ev[key]
        doc["ts"] = ev["ts"]
        if ev.get("mono") is not None and ev.get("boot") is not None:
            doc["mono"], doc["boot"] = ev["mono"], ev["boot"]
        doc["device_type"] = self.device_type
        doc["firmware_version"] = self.firmware_version
        doc["account_id"] = self.account_id
        if self.labels:
            doc["labels"] = self.labels
        if ev.get("props"):
            doc["props"] = ev["props"]
        return doc


def lean(f: EventFields) -> bool:
    """A checked event recorded now, with the device's identity (no override, no `ts`), that
    make() would not refuse: what Factory.lean_body() can write."""
    return (
        f.ts is None
        and not (f.device_type or f.firmware_version or f.account_id or f.labels)
        and (f.feature is not None or f.kind != "feature_use")
    )


def firmware_of(settings: AgentSettings) -> str:
    """(Blocking if it reads a source.) The firmware version to record under right now."""
    return fw.initial(settings)[0]


def to_body(doc: Mapping[str, Any]) -> str:
    """Compact JSON, non-ASCII as is (what the buffer stores and batches carry)."""
    return encode(doc).decode()


def event_body(doc: dict[str, Any], tail: bytes | None) -> str:
    """The body of an event from Factory.make(): to_body() of the whole event, the identity
    spliced in from its tail where build() puts it (before `props`: the free-form parts stay
    last, agent/batch.py looks for `boot` before them). `doc` loses its props."""
    if tail is None:
        return encode(doc).decode()
    props = doc.pop("props", None)
    head = encode(doc)
    if props is None:
        return (head[:-1] + tail + b"}").decode()
    return (head[:-1] + tail + b',"props":' + encode(props) + b"}").decode()


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
    fields = caller_fields(kind, feature, session_id, user_id, ts_ms, labels, props,
                           device_type, firmware_version, account_id)  # fmt: skip
    return build(settings, check_python(fields))


def caller_fields(
    kind: str,
    feature: str | None,
    session_id: str | None,
    user_id: str | None,
    ts_ms: int | None,
    labels: Mapping[str, str] | None,
    props: Mapping[str, Any] | None,
    device_type: str | None,
    firmware_version: str | None,
    account_id: str | None,
) -> dict[str, Any]:
    """record()'s and make_event()'s keyword arguments as the fields check_python() takes
    (a socket line's keys), those left at None out."""
    fields: dict[str, Any] = {"kind": kind}
    # One test per argument (most are None): cheaper than a loop over pairs, per call.
    if feature is not None:
        fields["feature"] = feature
    if session_id is not None:
        fields["session_id"] = session_id
    if user_id is not None:
        fields["user_id"] = user_id
    if ts_ms is not None:
        fields["ts"] = ts_ms
    if labels is not None:
        fields["labels"] = labels
    if props is not None:
        fields["props"] = props
    if device_type is not None:
        fields["device_type"] = device_type
    if firmware_version is not None:
        fields["firmware_version"] = firmware_version
    if account_id is not None:
        fields["account_id"] = account_id
    return fields


def explain(exc: Exception) -> str:
    """msgspec says `Expected `int`, got `str` - at `$.ts``: the field first, as before."""
    msg = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        what, sep, where = msg.rpartition(" - at `$")
        if sep:
            key = where.rstrip("`").lstrip(".").replace("[", ".").replace("]", "")
            key = key.replace("'", "").replace('"', "")
            return f"invalid event: {key}: {what}" if key else f"invalid event: {what}"
        return f"invalid event: {msg}"
    if isinstance(exc, msgspec.DecodeError):
        return f"invalid event: Invalid JSON: {msg}"
    return f"invalid event: {msg}"
