"""Sessions the agent keeps for the programs it serves.

Explicit: a program sends session_start and session_end with its own session_id. If the
session_end has no `duration_s` prop and this agent saw the start, the agent adds it, measured on
the monotonic clock (wall clocks on gateways jump).

Automatic: a program that only reports feature_use, without a session_id, gets one session per
user_id (or one for "no user"): the first such event opens it (a session_start is written just
before it, with the same clock readings) and every later one carries its id; after
`session_idle_s` without such events the agent writes its session_end, timed at the last
activity, with `duration_s` = last activity - start on the monotonic clock. Open automatic
sessions are persisted in the buffer's meta in the same transaction as their events, so after a
crash the next start closes them at their last known activity. They are also closed on shutdown.

Pure bookkeeping: the agent feeds events in and writes what comes out; the clock is injectable.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from agent.ids import boot_id, mono_ms, uuid7

META_KEY = "auto_sessions"
MAX_EXPLICIT = 10_000  # explicit session starts remembered for their durations
MAX_AUTO = 10_000  # distinct users with an open automatic session


@dataclass(slots=True)
class AutoSession:
    session_id: str
    user_id: str | None
    boot: str
    start_mono: int
    start_ts: int
    last_mono: int
    last_ts: int


_FIELDS = tuple(f.name for f in fields(AutoSession))  # snapshot()'s keys, in this order
Emit = list[dict[str, Any]]  # partial events (fields for events.build) to write


class Sessions:
    def __init__(
        self,
        idle_s: float,
        *,
        auto: bool = True,
        clock: Callable[[], int] = mono_ms,
        boot: Callable[[], str] = boot_id,
    ) -> None:
        self.idle_ms = int(idle_s * 1000)
        self.auto = auto
        self._clock = clock
        self._boot = boot
        self._open: OrderedDict[str, AutoSession] = OrderedDict()  # by user key, LRU order
        self._explicit: OrderedDict[str, int] = OrderedDict()  # session_id -> start mono
        self.dirty = False  # open sessions changed since the last snapshot()
        self.opened = 0
        self.closed = 0

    @property
    def open_count(self) -> int:
        return len(self._open)

    # -- per event -------------------------------------------------------------------------
    def on_event(self, doc: dict[str, Any]) -> Emit:
        """Look at an event about to be written (the dict from events.build, changed in place:
        an automatic session id is filled in). Returns events to write *before* it."""
        kind = doc["kind"]
        sid = doc.get("session_id")
        if sid is None and kind == "feature_use" and self.auto:
            return self._auto(doc)
        if sid is not None:
            if kind == "session_start" and "mono" in doc:
                self._explicit[sid] = doc["mono"]
                self._explicit.move_to_end(sid)
                if len(self._explicit) > MAX_EXPLICIT:
                    self._explicit.popitem(last=False)
            elif kind == "session_end":
                self._end_explicit(doc, sid)
        return []

    def _auto(self, doc: dict[str, Any]) -> Emit:
        now = doc.get("mono")
        if now is None:
            return []  # backfilled events (explicit ts) are not anyone's live session
        key = doc.get("user_id") or ""
        ts = doc["ts"]
        sid = self.continued(doc.get("user_id"), now, ts)
        if sid is not None:  # the common case: one more event of an open session
            doc["session_id"] = sid
            return []
        s = self._open.get(key)
        out: Emit = []
        if s is not None:
            out.append(self._end(s))
            del self._open[key]
            s = None
        if s is None:
            s = AutoSession(f"auto-{uuid7()}", doc.get("user_id"), str(doc.get("boot")),
                            now, ts, now, ts)  # fmt: skip
            self._open[key] = s
            self.opened += 1
            out.append(_start(s))
            if len(self._open) > MAX_AUTO:
                _, oldest = self._open.popitem(last=False)
                out.append(self._end(oldest))
        doc["session_id"] = s.session_id
        self.dirty = True
        return out

    def continued(self, user_id: str | None, mono: int, ts: int) -> str | None:
        """The id of `user_id`'s open automatic session if a feature_use event at (mono, ts)
        continues it (its activity noted), else None: then on_event() opens or replaces one.
        The agent's lean path asks this directly instead of handing over an event dict."""
        key = user_id or ""
        s = self._open.get(key)
        if s is None or mono - s.last_mono > self.idle_ms:
            return None
        # Least recently used first: past MAX_AUTO users the one idle longest is closed, not
        # the one opened first (which may be the busiest).
        self._open.move_to_end(key)
        if mono > s.last_mono:
            s.last_mono = mono
        if ts > s.last_ts:
            s.last_ts = ts
        self.dirty = True
        return s.session_id

    def _end_explicit(self, doc: dict[str, Any], sid: str) -> None:
        start = self._explicit.pop(sid, None)
        props = doc.get("props") or {}
        if start is None or "duration_s" in props or "mono" not in doc:
            return
        doc["props"] = {**props, "duration_s": round(max(0, doc["mono"] - start) / 1000, 3)}

    # -- timers, shutdown, recovery ----------------------------------------------------------
    def next_expiry_ms(self) -> int | None:
        """Monotonic ms at which the next open session times out, if any."""
        if not self._open:
            return None
        return min(s.last_mono for s in self._open.values()) + self.idle_ms

    def expire(self, now: int | None = None) -> Emit:
        """session_end events for sessions idle longer than the timeout."""
        now = self._clock() if now is None else now
        out = []
        for key, s in list(self._open.items()):
            if now - s.last_mono > self.idle_ms:
                out.append(self._end(s))
                del self._open[key]
        if out:
            self.dirty = True
        return out

    def close_all(self) -> Emit:
        out = [self._end(s) for s in self._open.values()]
        if out:
            self._open.clear()
            self.dirty = True
        return out

    def snapshot(self) -> str:
        """What to persist under META_KEY (in the transaction that writes the events)."""
        self.dirty = False
        # The fields by hand, not dataclasses.asdict (a deep copy per session): this runs for
        # every commit that carries automatic-session events.
        return json.dumps(
            [dict(zip(_FIELDS, (s.session_id, s.user_id, s.boot, s.start_mono, s.start_ts,
                                s.last_mono, s.last_ts), strict=True))
             for s in self._open.values()],
            separators=(",", ":"),
        )  # fmt: skip

    def recover(self, saved: str | None) -> Emit:
        """session_end events for the sessions a previous run left open (it crashed)."""
        if not saved:
            return []
        try:
            items = [AutoSession(**d) for d in json.loads(saved)]
        except (ValueError, TypeError):
            return []
        self.dirty = True  # the next commit writes the (now empty) list
        return [self._end(s) for s in items]

    def _end(self, s: AutoSession) -> dict[str, Any]:
        self.closed += 1
        duration = round(max(0, s.last_mono - s.start_mono) / 1000, 3)
        ev: dict[str, Any] = {
            "kind": "session_end",
            "session_id": s.session_id,
            "ts": s.last_ts,
            "mono": s.last_mono,
            "boot": s.boot,
            "props": {"duration_s": duration, "auto": True},
        }
        if s.user_id is not None:
            ev["user_id"] = s.user_id
        return ev


def _start(s: AutoSession) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "session_start",
        "session_id": s.session_id,
        "ts": s.start_ts,
        "mono": s.start_mono,
        "boot": s.boot,
        "props": {"auto": True},
    }
    if s.user_id is not None:
        ev["user_id"] = s.user_id
    return ev
