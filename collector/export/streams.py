"""Per day, what each stream delivered and what it is missing: pure, from the day's raw events
and the stream rows (storage/streams.py).

A row per (device, stream) with events that day: the sequence ranges received that day, and the
sequence numbers missing before or among them, split into transport gaps (never received, not
declared) and drops the agent declared (with its reason). A missing number is reported on the
day of the next event the stream delivered after it: the day the collector learnt of the hole.
So a device without events on a day is quiet if no later row reports missing numbers before its
next events, and lost data if one does. Holes after a stream's last received event have no such
day: they are in the `streams` snapshot (`current/streams.parquet`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.storage import StreamRow
from collector.storage.streams import Range, count, gaps, merge, subtract

DropRange = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class StreamState:
    received: list[Range]
    dropped: list[DropRange]
    gaps: list[Range]


@dataclass(frozen=True, slots=True)
class StreamDay:
    device_id: str
    stream_id: str
    events: int
    first_seq: int
    last_seq: int
    received: list[Range]
    gaps: list[Range]
    dropped: list[DropRange]

    def as_row(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "stream_id": self.stream_id,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "received": _ranges(self.received),
            "gaps": _ranges(self.gaps),
            "gap_events": count(self.gaps),
            "dropped": [{"first": a, "last": b, "reason": r} for a, b, r in self.dropped],
            "dropped_events": count((a, b) for a, b, _ in self.dropped),
        }


def stream_states(rows: Iterable[StreamRow]) -> dict[tuple[str, str], StreamState]:
    out = {}
    for device, stream, received_json, dropped_json, *_ in rows:
        received = [(int(a), int(b)) for a, b in json.loads(received_json)]
        declared = [(int(a), int(b), str(r)) for a, b, r in json.loads(dropped_json)]
        # Declared drops the collector did receive after all are not missing (streams.py).
        dropped = [
            (a, b, r) for x, y, r in sorted(declared) for a, b in subtract([(x, y)], received)
        ]
        out[(device, stream)] = StreamState(
            received, dropped, gaps(received, merge((a, b) for a, b, _ in declared))
        )
    return out


class DaySeqs:
    """The sequence numbers one day's events carry, per (device, stream), kept as ranges: events
    come by device and time, so mostly in sequence order and a stream's day is a few ranges,
    whatever its number of events."""

    def __init__(self) -> None:
        self._ranges: dict[tuple[str, str], list[Range]] = {}

    def add(self, device: str, stream: str, seq: int) -> None:
        ranges = self._ranges.setdefault((device, stream), [])
        if ranges and ranges[-1][0] <= seq <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], seq))
        else:
            ranges.append((seq, seq))
            if len(ranges) > 64:  # out of order: keep the list short
                ranges[:] = merge(ranges)

    def received(self) -> dict[tuple[str, str], list[Range]]:
        return {key: merge(r) for key, r in self._ranges.items()}


def stream_days(
    received: dict[tuple[str, str], list[Range]], states: dict[tuple[str, str], StreamState]
) -> list[StreamDay]:
    """One day's rows from the ranges its events carry (`DaySeqs.received`), by key."""
    out = []
    for key in sorted(received):
        got = received[key]
        first, last = got[0][0], got[-1][1]
        st = states.get(key, StreamState([], [], []))
        lo = _previous_received(st.received, first) + 1
        out.append(
            StreamDay(
                *key,
                events=count(got),
                first_seq=first,
                last_seq=last,
                received=got,
                gaps=_clip(st.gaps, lo, last),
                dropped=_clip_drops(st.dropped, lo, last),
            )
        )
    return out


def snapshot_rows(rows: Iterable[StreamRow]) -> list[dict[str, Any]]:
    """The current state of every stream, with its gaps and undelivered declared drops."""
    out = []
    for row in rows:
        device, stream, _, _, first_ms, last_ms, *_ = row
        st = stream_states([row])[(device, stream)]
        out.append({
            "device_id": device, "stream_id": stream,
            "first_seen_ms": int(first_ms), "last_seen_ms": int(last_ms),
            "received": _ranges(st.received), "gaps": _ranges(st.gaps),
            "gap_events": count(st.gaps),
            "dropped": [{"first": a, "last": b, "reason": r} for a, b, r in st.dropped],
            "dropped_events": count((a, b) for a, b, _ in st.dropped),
        })  # fmt: skip
    return out


def _previous_received(received: Sequence[Range], seq: int) -> int:
    """The highest received sequence number below `seq` (0 if none)."""
    i = bisect.bisect_left(received, (seq, seq)) - 1
    while i >= 0:
        a, b = received[i]
        if a < seq:
            return min(b, seq - 1)
        i -= 1
    return 0


def _clip(ranges: Iterable[Range], lo: int, hi: int) -> list[Range]:
    return [(max(a, lo), min(b, hi)) for a, b in ranges if a <= hi and b >= lo]


def _clip_drops(drops: Iterable[DropRange], lo: int, hi: int) -> list[DropRange]:
    return [(max(a, lo), min(b, hi), r) for a, b, r in drops if a <= hi and b >= lo]


def _ranges(ranges: Iterable[Range]) -> list[dict[str, int]]:
    return [{"first": a, "last": b} for a, b in ranges]
