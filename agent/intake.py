"""Intake: record(), record_many() and the local socket's lines -> rows for the group writer.

A mixin of agent.agent.Agent (the lifecycle is there); it declares the Agent's state it reads,
and imports nothing of agent.agent.

Two paths make an event's row. The full one checks the caller's fields with msgspec
(agent/events.py), builds the event as a dict (Factory.make), lets the sessions look at it and
encodes it. The lean one takes the common event, recorded now with the device's own identity,
that the sessions need nothing written for: its names already known to be valid (wire.known,
memos of the full check) or checked by msgspec in bulk (record_many, socket lines), its body
one string (Factory.lean_body), byte for byte what the full path writes (tested). Anything
else, or anything the lean checks are unsure of, takes the full path, which gives the verdict.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from agent.errors import AgentStopped, BufferFull, CollectionOff, InvalidEvent
from agent.events import (
    EventFields,
    Factory,
    caller_fields,
    check_json_lines,
    check_python,
    check_python_many,
    event_body,
    lean,
    to_body,
)
from agent.ids import uuid7, uuid7_many
from agent.sessions import Sessions
from agent.settings import AgentSettings
from agent.sock import Plain, Prepared
from agent.wire import known, lean_props
from agent.writer import GroupWriter, Row
from shared.errors import PesError

log = logging.getLogger(__name__)

RECORD_MANY_SLICE = 256  # record_many() submits in slices: a transaction stays within bounds
COLLECTION_OFF = "collection is off (consent withdrawn): nothing stored"


class Intake:
    """Agent's record(), record_many() and socket-line methods."""

    settings: AgentSettings
    collection: Literal["on", "off"]
    sample_rate: float
    sampled_out: int
    _accepting: bool
    _writer: GroupWriter | None
    _factory: Factory
    _mono_clock: int
    _sessions: Sessions
    _session_wake: asyncio.Event
    _rng: random.Random

    async def record(
        self,
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
    ) -> str:
        """Validate and durably store one event; return its id once it is committed.

        Raises InvalidEvent (nothing stored), BufferFull (reject_new policy, buffer at its
        limit), AgentStopped, or BufferUnavailable. Cancelling the caller does not un-record an
        event already handed to the writer."""
        if not self._accepting or self._writer is None:
            raise AgentStopped("agent is not running: use `async with Agent(settings)`")
        if self.collection == "off":
            raise CollectionOff(COLLECTION_OFF)
        lean = None
        if (
            ts_ms is None
            and labels is None
            and device_type is None
            and firmware_version is None
            and account_id is None
            and known(kind, feature, session_id, user_id)
            and (props is None or lean_props(props))
        ):  # the common event, names seen before: no fields dict, no msgspec, no event dict
            now = time.time_ns() // 1_000_000
            event_id = uuid7(now)
            mono = time.clock_gettime_ns(self._mono_clock) // 1_000_000
            plain = cast("dict[str, Any] | None", props)  # lean_props: a dict
            row = self._lean_row(kind, feature, session_id, user_id, plain, event_id, now, mono)
            lean = None if row is None else [row]
        if lean is not None:
            rows = lean
        else:
            fields = caller_fields(kind, feature, session_id, user_id, ts_ms, labels, props,
                                   device_type, firmware_version, account_id)  # fmt: skip
            rows, event_id = self._rows(check_python(fields))
        stored = await self._writer.submit(rows)
        if stored < len(rows):
            raise BufferFull(f"buffer full ({self.settings.max_buffer_mb:g} MiB, reject_new)")
        return event_id

    async def record_many(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Validate and durably store several events, given as dicts with the keys of a socket
        line (kind, feature, session_id, user_id, ts, labels, props...); return their ids once
        all are committed. For producers with bursts: one call, no task per event.

        Raises InvalidEvent naming the first bad event's index (then nothing is stored), or
        BufferFull (reject_new) if the buffer refused some: the others are stored."""
        if not self._accepting or self._writer is None:
            raise AgentStopped("agent is not running: use `async with Agent(settings)`")
        if self.collection == "off":
            raise CollectionOff(COLLECTION_OFF)
        ids = uuid7_many(len(events))
        checked = check_python_many(events)
        make = self._factory.make
        clocks = self._factory.clocks()  # handed over together: recorded at one instant
        # Everything checked before the sessions see any of it: make() is what can refuse
        # a checked event, and lean() ones it would not refuse (_rows takes those on). The
        # others' made events are kept for their rows, not made twice.
        made: dict[int, tuple[dict[str, Any], bytes | None]] = {}
        for i, fields in enumerate(checked):
            if not lean(fields):
                try:
                    made[i] = make(fields, ids[i], clocks)
                except InvalidEvent as exc:
                    raise InvalidEvent(f"event {i}: {exc}") from exc
        futures, sizes = [], []
        now, mono = clocks
        lean_row = self._lean_row
        for lo in range(0, len(checked), RECORD_MANY_SLICE):
            rows: list[Row] = []
            for i in range(lo, min(lo + RECORD_MANY_SLICE, len(checked))):
                doc = made.get(i) if made else None
                if doc is not None:
                    rows += self._doc_rows(*doc)
                    continue
                f = checked[i]  # lean(f): _lean_row() at once, _rows() if it says no
                got = lean_row(f.kind, f.feature, f.session_id, f.user_id, f.props, ids[i],
                               now, mono)  # fmt: skip
                if got is not None:
                    rows.append(got)
                else:
                    rows += self._rows(f, ids[i], clocks)[0]
            futures.append(self._writer.submit(rows))
            sizes.append(len(rows))
        stored = await asyncio.gather(*futures)
        if list(stored) != sizes:
            raise BufferFull(f"buffer full (reject_new): {sum(stored)} of {sum(sizes)} rows stored")
        return ids

    def _prepare_lines(self, lines: list[bytes]) -> Prepared:
        """Socket lines -> Plain when each is a common event stored as one row (no error, no
        session rows, no sampling: the socket answers them with one join), else per line,
        (rows, event id) or an error message."""
        if not self._accepting:
            return ["agent is stopping"] * len(lines)
        if self.collection == "off":
            return [COLLECTION_OFF] * len(lines)
        checked = check_json_lines(lines)
        ids = uuid7_many(len(lines))
        clocks = self._factory.clocks()  # lines read together: recorded at one instant
        now, mono = clocks
        lean_row = self._lean_row
        plain: list[Row] = []
        for fields, event_id in zip(checked, ids, strict=True):
            if isinstance(fields, str) or not lean(fields):
                break
            f = fields  # _rows() inline: a call less per line
            row = lean_row(f.kind, f.feature, f.session_id, f.user_id, f.props, event_id, now,
                           mono)  # fmt: skip
            if row is None:
                break
            plain.append(row)
        else:
            return Plain(plain, ids)
        # Per line from the first that is not plain on (those before: one row each).
        k = len(plain)
        out: list[tuple[list[Row], str] | str] = [([row], row[0]) for row in plain]
        for fields, event_id in zip(checked[k:], ids[k:], strict=True):
            if isinstance(fields, str):
                out.append(fields)
                continue
            if lean(fields):
                f = fields
                row = lean_row(f.kind, f.feature, f.session_id, f.user_id, f.props, event_id,
                               now, mono)  # fmt: skip
                if row is not None:
                    out.append(([row], event_id))
                    continue
            try:
                doc, tail = self._factory.make(fields, event_id, clocks)
                out.append((self._doc_rows(doc, tail), doc["id"]))
            except PesError as exc:
                out.append(str(exc))
        return out

    def _rows(
        self,
        fields: EventFields,
        event_id: str | None = None,
        clocks: tuple[int, int] | None = None,
    ) -> tuple[list[Row], str]:
        if event_id is not None and clocks is not None and lean(fields):
            f = fields
            row = self._lean_row(f.kind, f.feature, f.session_id, f.user_id, f.props,
                                 event_id, *clocks)  # fmt: skip
            if row is not None:
                return [row], event_id
        doc, tail = self._factory.make(fields, event_id, clocks)
        return self._doc_rows(doc, tail), doc["id"]

    def _lean_row(
        self,
        kind: str,
        feature: str | None,
        session_id: str | None,
        user_id: str | None,
        props: dict[str, Any] | None,
        event_id: str,
        now: int,
        mono: int,
    ) -> Row | None:
        """The row of a checked event recorded now with the device's identity, when the
        sessions need nothing written for it and it is stored as it is (no sampling): one
        body string (Factory.lean_body) instead of an event dict, make() and event_body().
        None: not such an event (or a feature_use without its feature), the full path
        (make, _doc_rows) then does it, or says what is wrong."""
        if self.sample_rate < 1:
            return None
        if session_id is None:
            if kind == "feature_use":
                if feature is None:
                    return None
                if self._sessions.auto:
                    # What Sessions.on_event does for the common feature_use: it continues
                    # an open automatic session. Opening one writes a session_start: full path.
                    session_id = self._sessions.continued(user_id, mono, now)
                    if session_id is None:
                        return None
        elif kind == "session_start" or kind == "session_end":
            return None  # explicit sessions: their durations are on_event's
        body = self._factory.lean_body(event_id, kind, feature, session_id, user_id, now,
                                       mono, props)  # fmt: skip
        return (event_id, body)

    def _doc_rows(self, doc: dict[str, Any], tail: bytes | None) -> list[Row]:
        """The rows to write for an event (from Factory.make): automatic session events
        first, then its own."""
        extra = self._sessions.on_event(doc)
        if self.sample_rate < 1 and doc["kind"] == "feature_use":
            if self._rng.random() >= self.sample_rate:  # sampled out: answered, not stored
                self.sampled_out += 1
                if extra:
                    self._session_wake.set()
                return [_row(self._factory.internal(e)) for e in extra]
        if not extra:
            return [(doc["id"], event_body(doc, tail))]
        self._session_wake.set()
        own = (doc["id"], event_body(doc, tail))
        return [*(_row(self._factory.internal(e)) for e in extra), own]

    def _submit_internal(self, events: list[dict[str, Any]]) -> None:
        assert self._writer is not None
        fut = self._writer.submit([_row(self._factory.internal(e)) for e in events])
        fut.add_done_callback(_log_failure)


def _row(doc: Mapping[str, Any]) -> Row:
    return (doc["id"], to_body(doc))


def _log_failure(fut: asyncio.Future[int]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("session event not stored: %s", fut.exception())
