"""Per-stream sequence bookkeeping: which sequence numbers of an agent's stream have been received,
which the agent declared dropped, and which are missing. Pure functions on sorted, disjoint,
inclusive ranges.

This is how the collector deduplicates stream events: an event whose `seq` is already covered is
a resend. The cost of that check depends on the number of ranges (one for a healthy stream), not
on how many events were ever stored.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from collector.records import EventRow, ParsedMessage
from shared import limits as L

Range = tuple[int, int]  # inclusive
# (device, stream, received, dropped, first_seen, last_seen, gap_events, dropped_events)
StreamRow = tuple[str, str, str, str, int, int, int, int]
MAX_DROP_RANGES = 1000  # an agent reporting more distinct drops than this is summarised by gaps
StreamKey = tuple[str, str]  # (device, stream)
DAY_MS = 86_400_000  # the window of MAX_STREAMS_PER_DEVICE_PER_DAY


def covers(ranges: Sequence[Range], seq: int) -> bool:
    i = bisect.bisect_right(ranges, (seq, float("inf"))) - 1
    return i >= 0 and ranges[i][0] <= seq <= ranges[i][1]


def merge(ranges: Iterable[Range], *more: Range) -> list[Range]:
    """Union of ranges, adjacent ones joined: [(1,3),(4,6)] -> [(1,6)]."""
    out: list[Range] = []
    for a, b in sorted([*ranges, *more]):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def subtract(ranges: Sequence[Range], minus: Sequence[Range]) -> list[Range]:
    """Parts of `ranges` not covered by `minus` (both sorted and disjoint)."""
    out: list[Range] = []
    j = 0
    for a, b in ranges:
        cur = a
        while j < len(minus) and minus[j][1] < cur:
            j += 1
        k = j
        while k < len(minus) and minus[k][0] <= b and cur <= b:
            ma, mb = minus[k]
            if ma > cur:
                out.append((cur, ma - 1))
            cur = max(cur, mb + 1)
            k += 1
        if cur <= b:
            out.append((cur, b))
    return out


def gaps(received: Sequence[Range], dropped: Sequence[Range] = ()) -> list[Range]:
    """Sequence numbers below the highest received one that were neither received nor declared
    dropped by the agent: loss in transport (or still in flight)."""
    if not received:
        return []
    holes = subtract([(1, received[-1][1])], received)
    return subtract(holes, merge(dropped))


def dropped_unreceived(received: Sequence[Range], dropped: Sequence[Range]) -> list[Range]:
    """What the agent declared dropped and the collector never received. An agent drops the
    oldest buffered events, which may have been sent already and stored, only their ack lost
    or late: those are counted as stored, not also as dropped (both sorted and disjoint)."""
    return subtract(dropped, received)


def count(ranges: Iterable[Range]) -> int:
    return sum(b - a + 1 for a, b in ranges)


def saturated(n: int) -> int:
    """A stream's count as stored: at most MAX_STREAM_COUNT, so that sums over every stream of
    a database stay within 64 bits (SQLite's sum() raises on overflow)."""
    return min(n, L.MAX_STREAM_COUNT)


@dataclass(slots=True)
class StreamState:
    received: list[Range]
    dropped: list[tuple[int, int, str]]
    first_seen_ms: int
    last_seen_ms: int


class StreamBook:
    """The state of the streams touched by one write transaction. Backends load the rows, let
    `accept` pick each unit's fresh events, and write back `rows()` in the same transaction."""

    def __init__(self) -> None:
        self._streams: dict[StreamKey, StreamState] = {}
        self.dirty: set[StreamKey] = set()
        # New streams over a device's daily allowance: their batches are quarantined.
        self.refused: set[StreamKey] = set()

    def known(self, key: StreamKey) -> bool:
        return key in self._streams

    def admit(self, keys: Iterable[StreamKey], opened: dict[str, int]) -> list[StreamKey]:
        """Of `keys` (in arrival order), the new streams each device may still open, given how
        many it `opened` in the last 24 h (MAX_STREAMS_PER_DEVICE_PER_DAY); the rest are
        remembered as refused. Known streams are not counted."""
        admitted = []
        for key in keys:
            if key in self._streams or key in self.refused or key in admitted:
                continue
            n = opened.get(key[0], 0)
            if n >= L.MAX_STREAMS_PER_DEVICE_PER_DAY:
                self.refused.add(key)
            else:
                opened[key[0]] = n + 1
                admitted.append(key)
        return admitted

    def load(self, rows: Iterable[Sequence[Any]]) -> None:
        for device_id, stream_id, received, dropped, first_ms, last_ms, *_ in rows:
            self._streams[(device_id, stream_id)] = StreamState(
                [(a, b) for a, b in json.loads(received)],
                [(a, b, r) for a, b, r in json.loads(dropped)],
                int(first_ms),
                int(last_ms),
            )

    def accept(self, unit: ParsedMessage, received_ms: int) -> list[EventRow] | None:
        """Events of `unit` never received before; marks the unit's range as received. None
        when the unit's stream was refused (`admit`)."""
        target = unit.stream
        assert target is not None
        key = (target.device_id, target.stream_id)
        if key in self.refused:
            return None
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = StreamState([], [], received_ms, received_ms)
        fresh = _unreceived(unit.events, st.received)
        if unit.events or unit.quarantined:
            # A batch without events (drops only) covers seqs the agent declared dropped: they
            # are accounted for by the declaration, not received (dropped_unreceived).
            st.received = merge(st.received, (target.first_seq, target.last_seq))
        for a, b, reason in unit.drops:
            if (a, b, reason) not in st.dropped and len(st.dropped) < MAX_DROP_RANGES:
                st.dropped.append((a, b, reason))
        st.last_seen_ms = max(st.last_seen_ms, received_ms)
        self.dirty.add(key)
        return fresh

    def rows(self) -> list[StreamRow]:
        """(device, stream, received, dropped, first_seen, last_seen, gap_events, dropped_events)
        with the counts precomputed so that metrics never parse ranges."""
        out = []
        for key in sorted(self.dirty):
            st = self._streams[key]
            dropped = merge((a, b) for a, b, _ in st.dropped)
            out.append(
                (*key, json.dumps(st.received), json.dumps(sorted(st.dropped)),
                 st.first_seen_ms, st.last_seen_ms,
                 saturated(count(gaps(st.received, dropped))),
                 saturated(count(dropped_unreceived(st.received, dropped))))
            )  # fmt: skip
        return out


_SEQ = itemgetter(EventRow._fields.index("seq"))
_IDENTITY = itemgetter(EventRow._fields.index("device_id"), EventRow._fields.index("event_id"))


def _unreceived(events: list[EventRow], received: Sequence[Range]) -> list[EventRow]:
    """The first event of each seq of `events` not covered by `received`. The usual batch (its
    seqs distinct and none received before) is decided once, in C-level steps, for the whole
    batch; any other goes event by event."""
    seqs = list(map(_SEQ, events))
    if seqs and None not in seqs:
        lo, hi = min(seqs), max(seqs)
        # The last range starting at or below `hi` is the one that would overlap lo..hi.
        i = bisect.bisect_right(received, (hi, float("inf"))) - 1
        if (i < 0 or received[i][1] < lo) and len(set(seqs)) == len(seqs):
            return list(events)
    fresh: list[EventRow] = []
    seen: set[int] = set()
    for ev in events:
        if ev.seq is None or ev.seq in seen or covers(received, ev.seq):
            continue
        seen.add(ev.seq)
        fresh.append(ev)
    return fresh


def identity_keys(events: Iterable[EventRow]) -> list[int]:
    """RecentIds.key of each event, computed without a Python call per event."""
    return list(map(hash, map(_IDENTITY, events)))


class RecentIds:
    """The `(device, event id)` pairs this collector stored lately, so that an event id a
    device sends again under another sequence number or another stream is counted once
    (docs/wire.md). Two generations of hashes, each of at most `capacity` / 2: memory is
    bounded (about 60 bytes an entry) and the last `capacity` / 2 stored ids are always
    remembered. Seq ranges still decide resends; this only catches what they cannot.

    Plans read it (`seen`); a backend adds a plan's events only after its commit (`add`), so a
    rolled-back write is not remembered as stored."""

    def __init__(self, capacity: int = 400_000) -> None:
        self._half = max(1, capacity // 2)
        self._current: set[int] = set()
        self._previous: set[int] = set()

    @staticmethod
    def key(ev: EventRow) -> int:
        return hash((ev.device_id, ev.event_id))

    def seen(self, key: int) -> bool:
        return key in self._current or key in self._previous

    def seen_any(self, keys: set[int]) -> bool:
        return not (self._current.isdisjoint(keys) and self._previous.isdisjoint(keys))

    def add(self, events: Iterable[EventRow]) -> None:
        self.add_keys(identity_keys(events))

    def add_keys(self, keys: list[int]) -> None:
        """As adding each key (`key` of an event) in turn, the generations turning over when
        the current one is full; done in slices that just fill the current generation."""
        i = 0
        while i < len(keys):
            room = self._half - len(self._current)  # >= 1: a full generation is turned over
            self._current.update(keys[i : i + room])
            i += room
            if len(self._current) >= self._half:
                self._previous, self._current = self._current, set()
