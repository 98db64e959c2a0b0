"""EventRows from validated events: the day of each event in the collector's time zone and the
canonical JSON of its labels and props, both memoised within a batch (its events mostly share
them). Shared by the pydantic path (parse.py) and the msgspec fast path (fastwire.py), so that
both build their rows with the same code."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from collector.records import EventRow
from shared import clock


class Event(Protocol):
    """What a row is made of: shared.models.WireEvent, or fastwire's msgspec twin of it."""

    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def feature(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def ts(self) -> int: ...
    @property
    def device_type(self) -> str: ...
    @property
    def firmware_version(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def props(self) -> dict[str, Any]: ...


def canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def day_of(ts_ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).date().isoformat()


class RowMaker:
    """Builds EventRows, remembering the day of each quarter hour and the canonical JSON of
    each label set within one batch: events of a batch mostly share both."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.days: dict[int, str] = {}  # quarter hour -> ISO date
        self._json: dict[tuple[tuple[str, Any], ...], str] = {}

    def day(self, ts_ms: int) -> str:
        # Every real zone offset is a multiple of 15 minutes, so a quarter hour has one date.
        q = ts_ms // 900_000
        d = self.days.get(q)
        if d is None:
            d = self.days[q] = day_of(ts_ms, self.tz)
        return d

    def labels(self, obj: dict[str, str]) -> str:
        return self._memo(obj) if obj else "{}"

    def _memo(self, obj: dict[str, Any]) -> str:
        key = tuple(obj.items())
        s = self._json.get(key)
        if s is None:
            s = self._json[key] = canonical(obj)
        return s

    def props(self, obj: dict[str, Any]) -> str:
        if not obj:
            return "{}"
        # Memoised only when every value is a string: 1, 1.0 and True (or 0.0 and -0.0) are
        # one key to a dict but three (two) different JSON texts.
        for v in obj.values():
            if type(v) is not str:
                return canonical(obj)
        return self._memo(obj)

    def make(
        self, device_id: str, stream_id: str | None, ev: Event, fix: clock.Correction
    ) -> EventRow:
        return EventRow(
            device_id, ev.id, stream_id, ev.seq, ev.kind, ev.feature, ev.session_id,
            ev.user_id, fix.ts_ms, ev.ts, fix.method, self.day(fix.ts_ms), ev.device_type,
            ev.firmware_version, ev.account_id, self.labels(ev.labels),
            self.props(ev.props),
        )  # fmt: skip
