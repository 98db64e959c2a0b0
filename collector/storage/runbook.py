"""Firmware runs kept at ingest (migration 5): which runs a write transaction changes.

The write plan (plan.py) hands the fresh events of a write (already deduplicated) to
`update_runs`; a backend supplies the stored runs of the devices they touch (loaded, and on
PostgreSQL locked, inside the write transaction) and, on the rare path where an event splits a
run of another configuration, the stored events of the runs being split (`LoadStamps`). Those
are read once per write, for every splitting device together, from `split_events`, which the
backends keep for the devices that split runs (`events` has no index by device: docs/scaling.md,
"What to change"); a device sending events that split its runs costs one read per write, not two
lookups per event.

Events are applied per device in `(ts, event id)` order with `storage.runs.apply_event`, which
keeps the runs exact under late, out-of-order and resent events. A device whose runs change is
written back whole (delete its rows, insert the new ones, all with the write's version), so a
reader that sees any row of a device at a new version replaces that device's runs wholesale.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from operator import attrgetter, itemgetter

from collector.records import EventRow
from collector.storage.runs import FwEvent, Key, Run, Stamp, apply_event

# (device_id, device_type, firmware, first_ts, first_id, first_day, last_ts, last_id, last_day)
RunRow = tuple[str, str, str, int, str, int, int, str, int]
# (device_id, day ordinal, feature_use events that day): Store.feature_uses
UsesRow = tuple[str, int, int]
NO_RUNS_CURSOR = -1


@dataclass(frozen=True, slots=True)
class RunChanges:
    """Every run of the devices whose runs changed since a cursor, and the next cursor."""

    rows: list[RunRow]
    cursor: int


@dataclass(frozen=True, slots=True)
class Span:
    """The stored events a write needs of a splitting device: every one whose timestamp lies
    in [lo_ts, hi_ts]."""

    device: str
    lo_ts: int
    hi_ts: int


# Reads the stored events of these spans, inside the write transaction: per device, in any
# order (update_runs sorts them).
LoadStamps = Callable[[Sequence[Span]], Awaitable[Mapping[str, Sequence[Stamp]]]]
# The stored event just before `key` (below=True) or just after it, skipping `exclude`.
_Neighbour = Callable[[str, Key, bool, frozenset[Key]], Stamp | None]


class _NeedsStamps(Exception):
    """A device's events split a run: its stored events are needed (update_runs' first pass)."""


def fw_event(ev: EventRow) -> FwEvent:
    return FwEvent(
        ev.device_id, ev.device_type, ev.firmware_version,
        date.fromisoformat(ev.day).toordinal(), ev.ts_ms, ev.event_id,
    )  # fmt: skip


def run_of(row: Sequence[object]) -> tuple[str, Run]:
    """(device, Run) from a stored RunRow."""
    d, t, f, fts, fid, fday, lts, lid, lday = row
    return str(d), Run(
        str(t), str(f), (_int(fts), str(fid)), _int(fday), (_int(lts), str(lid)), _int(lday)
    )


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value


def row_of(device: str, run: Run) -> RunRow:
    return (device, run.device_type, run.firmware, run.first[0], run.first[1], run.first_day,
            run.last[0], run.last[1], run.last_day)  # fmt: skip


def group_runs(rows: Sequence[Sequence[object]]) -> dict[str, tuple[Run, ...]]:
    """Stored rows -> runs per device, in event order."""
    out: dict[str, list[Run]] = {}
    for row in rows:
        device, run = run_of(row)
        out.setdefault(device, []).append(run)
    return {d: tuple(sorted(rs, key=lambda r: r.first)) for d, rs in out.items()}


async def update_runs(
    fresh: Sequence[EventRow],
    stored: Mapping[str, Sequence[Run]],
    load_stamps: LoadStamps,
) -> dict[str, tuple[Run, ...]]:
    """The new runs of every device whose runs `fresh` changes (others left out).

    Two passes: the first gives every device whose events split no run of another
    configuration its runs and notes the others; their stored events are then read in one
    call, and the second pass gives theirs."""
    by_device: dict[str, list[EventRow]] = {}
    for device, run in groupby(fresh, _DEVICE):  # a write's events come in runs of a device
        by_device.setdefault(device, []).extend(run)
    ordinals: dict[str, int] = {}
    changed: dict[str, tuple[Run, ...]] = {}
    splitting: dict[str, Span] = {}
    for device, rows in by_device.items():
        old = tuple(stored.get(device, ()))
        try:
            runs = _device_runs(device, old, rows, _needs_stamps, ordinals)
        except _NeedsStamps:
            splitting[device] = _span(device, old, rows)
            continue
        if runs != old:
            changed[device] = runs
    if splitting:
        near = _Near(await load_stamps(list(splitting.values())))
        for device in splitting:
            old = tuple(stored.get(device, ()))
            runs = _device_runs(device, old, by_device[device], near, ordinals)
            if runs != old:
                changed[device] = runs
    return changed


def _device_runs(
    device: str,
    old: tuple[Run, ...],
    rows: list[EventRow],
    neighbour: _Neighbour,
    ordinals: dict[str, int],
) -> tuple[Run, ...]:
    """One device's runs after `rows` (its fresh events).

    On the hot path (events arriving in order) an event only moves the last run's end; that
    case is handled here without apply_event, which covers every other."""
    runs = list(old)
    keys = list(map(_KEY, rows))
    if (whole := _whole(runs, rows, keys, ordinals)) is not None:
        return whole
    # Event by event, in key order (sorting is only needed here: `_whole` takes the
    # extremes). A stable sort keeps `keys` and `rows` aligned, on a copy: a second pass
    # starts from the same rows.
    rows = sorted(rows, key=_KEY)
    keys.sort()
    tail: tuple[Key, str] | None = None  # a new end of the last run, not yet written
    for i, ev in enumerate(rows):
        key = keys[i]
        last = runs[-1] if runs else None
        if (
            last is not None
            and key > (last.last if tail is None else tail[0])
            and last.firmware == ev.firmware_version
            and last.device_type == ev.device_type
        ):
            tail = (key, ev.day)
            continue
        if tail is not None:
            runs[-1] = _extended(runs[-1], tail, ordinals)
            tail = None
        event = FwEvent(device, ev.device_type, ev.firmware_version,
                        _ordinal(ev.day, ordinals), *key)  # fmt: skip
        runs = list(_apply(runs, event, keys, i, rows, neighbour, ordinals))
    if tail is not None:
        runs[-1] = _extended(runs[-1], tail, ordinals)
    return tuple(runs)


def _needs_stamps(device: str, key: Key, below: bool, exclude: frozenset[Key]) -> Stamp | None:
    raise _NeedsStamps(device)


def _span(device: str, old: Sequence[Run], rows: Sequence[EventRow]) -> Span:
    """The stored events a split of this write can need. A run that an event cuts is a stored
    run that holds the event's key, or one that starts after it and that earlier events of the
    write extended back over it (no stored run lies in between), and a split's neighbours are
    inside that stored run: so the runs from the first that ends at or after the write's
    lowest key to the first that starts after its highest, with the write's own keys."""
    keys = list(map(_KEY, rows))
    lo, hi = min(keys), max(keys)
    ts = [lo[0], hi[0]]
    for run in old:  # in key order
        if run.last < lo:
            continue
        ts += (run.first[0], run.last[0])
        if run.first > hi:
            break
    return Span(device, min(ts), max(ts))


def split_rows(fresh: Sequence[EventRow], marked: set[str]) -> list[tuple[str, int, str, int]]:
    """The split_events rows (device, ts, event id, day ordinal) of the marked devices' events
    in `fresh`."""
    ordinals: dict[str, int] = {}
    return [
        (ev.device_id, ev.ts_ms, ev.event_id, _ordinal(ev.day, ordinals))
        for ev in fresh
        if ev.device_id in marked
    ]


class _Near:
    """Neighbour lookups in the stored events read for the splitting devices."""

    def __init__(self, stamps: Mapping[str, Sequence[Stamp]]) -> None:
        self._stamps = {d: sorted(ss, key=_STAMP_KEY) for d, ss in stamps.items()}
        self._keys = {d: [s.key for s in ss] for d, ss in self._stamps.items()}

    def __call__(self, device: str, key: Key, below: bool, exclude: frozenset[Key]) -> Stamp | None:
        stamps, keys = self._stamps.get(device, []), self._keys.get(device, [])
        if below:
            order = range(bisect_left(keys, key) - 1, -1, -1)
        else:
            order = range(bisect_right(keys, key), len(keys))
        for j in order:
            if keys[j] not in exclude:
                return stamps[j]
        return None


_STAMP_KEY = attrgetter("key")


_KEY = itemgetter(EventRow._fields.index("ts_ms"), EventRow._fields.index("event_id"))
_DEVICE = itemgetter(EventRow._fields.index("device_id"))
_CONFIG = itemgetter(
    EventRow._fields.index("device_type"), EventRow._fields.index("firmware_version")
)


def _whole(
    runs: list[Run], rows: list[EventRow], keys: list[Key], ordinals: dict[str, int]
) -> tuple[Run, ...] | None:
    """The device's runs after `rows` (`keys` their keys, both in any order) when they change
    at most the last run: one configuration, the last run's, none of them at or before the end
    of the run before it (the usual write: a device's new events, some of them late within its
    current run). None otherwise, for the event-by-event path. The result is what apply_event
    gives event by event: an event inside the last run changes nothing, one after it moves its
    end, one before it (and after the previous run) moves its start, the first event makes a
    run."""
    configs = set(map(_CONFIG, rows))
    if len(configs) != 1:
        return None
    ((device_type, firmware),) = configs
    lo, hi = min(keys), max(keys)
    # The days of the extreme events (equal keys are one event: one ts, one day).
    lo_day, hi_day = rows[keys.index(lo)].day, rows[keys.index(hi)].day
    if not runs:
        return (Run(device_type, firmware, lo, _ordinal(lo_day, ordinals), hi,
                    _ordinal(hi_day, ordinals)),)  # fmt: skip
    run = runs[-1]
    if run.config != (device_type, firmware) or (len(runs) > 1 and lo <= runs[-2].last):
        return None
    first, first_day = run.first, run.first_day
    if lo < first:
        first, first_day = lo, _ordinal(lo_day, ordinals)
    last, last_day = run.last, run.last_day
    if hi > last:
        last, last_day = hi, _ordinal(hi_day, ordinals)
    return (*runs[:-1], Run(device_type, firmware, first, first_day, last, last_day))


def _ordinal(day: str, ordinals: dict[str, int]) -> int:
    n = ordinals.get(day)
    if n is None:
        n = ordinals[day] = date.fromisoformat(day).toordinal()
    return n


def _extended(run: Run, tail: tuple[Key, str], ordinals: dict[str, int]) -> Run:
    return Run(run.device_type, run.firmware, run.first, run.first_day, tail[0],
               _ordinal(tail[1], ordinals))  # fmt: skip


def _apply(
    runs: Sequence[Run],
    event: FwEvent,
    keys: Sequence[Key],
    i: int,
    rows: Sequence[EventRow],
    neighbour: _Neighbour,
    ordinals: dict[str, int],
) -> tuple[Run, ...]:
    try:
        return apply_event(runs, event)
    except ValueError:
        pass
    # Splits a run: its neighbours are the events stored before this write plus the fresh
    # ones applied so far (all of them below `event`); the fresh ones still to come are
    # skipped, whether or not they are in the table yet.
    prev = neighbour(event.device_id, event.key, True, frozenset())
    if i and (prev is None or prev.key < keys[i - 1]):
        before = rows[i - 1]
        prev = Stamp(before.ts_ms, before.event_id, _ordinal(before.day, ordinals))
    next_ = neighbour(event.device_id, event.key, False, frozenset(keys[i + 1 :]))
    try:
        return apply_event(runs, event, prev, next_)
    except ValueError:
        # No neighbours inside the run: retention deleted the raw events around it, or the
        # key is stored with another configuration. Ingest must not stop on it; the runs
        # stay as they are.
        return tuple(runs)
