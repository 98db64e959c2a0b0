"""Release impact and rollout (specs/releases.md) for the API and the CLI: parameters parsed and
checked once (reports/release_query.py), a `Fleet` built from the store, the pure engine of
collector.analytics.releases.

Where the Fleet comes from:
- runs: `Store.firmware_runs_packed`, kept in memory per open store as columns and refreshed by
  version (only the devices whose runs changed are read again; storage/runcache.py);
- activity and feature-use day bits: the analytics snapshot (tables.current_snapshot), the
  combinations of one (device, type, firmware) / (device, type, feature) merged;
- feature_use counts per device and day: `Store.feature_uses_packed`, kept in memory per open store
  as columns over a range of days; when `Store.events_seen` has moved, the devices whose
  counters moved (`events_seen_by_device`) are read again, the others kept.

What is kept between requests, per open store: the Fleet of a range of days and, per
`measure_key`, the engine's `Measured` (everything but the bootstrap). Both are valid while
`Store.events_seen`, read before anything else a build reads, stays the same: every write that
stores an event raises it in the transaction that changes the rollups and the runs, so an answer
never comes from data older than the last write committed before the request. After a write
both are updated for the devices whose counter moved (reports/fleets.py `update_fleet`,
analytics/releases_update.py), equal to a build and a measurement made anew; where that
declines, the Fleet of the asked days is built and measured, as a fresh process would.

After a restart the first Fleet comes from the release file where one can be trusted
(reports/release_keep.py, release_file.py): kept as if built at the counters it was saved
with, so that the writes since are taken by the same update; Fleets built or updated later are
written back to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.analytics.releases import Measured, ReleaseRow, measure, measure_key, report_rows
from collector.analytics.releases_fleet import Fleet
from collector.analytics.releases_rollout import Rollout, rollout
from collector.analytics.releases_update import remeasure, share, subfleet
from collector.analytics.state import Snapshot
from collector.reports import release_keep
from collector.reports.devices import DeviceCodes, codes_of, device_codes
from collector.reports.fleets import build_fleet, update_fleet
from collector.reports.release_file import CodeParts, SavedRelease
from collector.reports.release_query import (
    DEFAULT_DAYS,
    MAX_WINDOW,
    RESAMPLES,
    ROW_KEYS,
    ReleaseQuery,
    make_release_query,
    parse_day,
    parse_window,
    release_csv,
    release_csv_rows,
)
from collector.reports.tables import current_snapshot, off_loop
from collector.settings import PesSettings
from collector.storage import Store
from collector.storage.packed import PackedUses
from collector.storage.runcache import (
    RunColumns,
    current_run_columns,
    kept_run_columns,
    seed_run_columns,
)
from collector.storage.usecache import current_uses

__all__ = [
    "DEFAULT_DAYS", "MAX_WINDOW", "RESAMPLES", "ROW_KEYS", "ReleaseQuery", "flush_releases",
    "load_fleet", "make_release_query", "parse_day", "parse_window", "release_csv",
    "release_csv_rows", "release_rows", "rollout_table", "warm_up_releases",
]  # fmt: skip
Ints = npt.NDArray[np.int64]


@dataclass(slots=True)
class _Built:
    """A Fleet of one range of days and the engine's measurements of it, valid while
    `Store.events_seen` is `seen`. `counters` (Store.events_seen_by_device, read before the
    Fleet's sources) say which devices' rows a later update must take again: those whose
    counter moved since (a device's counter moves in every write that changes its rows)."""

    seen: int
    fleet: Fleet
    with_uses: bool
    counters: Mapping[str, int]
    updates: int = 0  # writes followed by an update of this Fleet since its build
    # Requests computing on this Fleet now (reports and rollouts; see `_reading`): while none
    # is, an update may write into its arrays instead of copying them.
    readers: int = 0
    measured: dict[tuple[object, ...], Measured] = field(default_factory=dict)
    written: bool = False  # its Fleet is (or was) in the release file
    unsaved: bool = True  # it holds what the release file does not (a Fleet, a measurement)

    def covers(self, lo: int, hi: int, with_uses: bool) -> bool:
        """Whether this Fleet answers for days [lo, hi]: the engine reads only the days a report
        asks for, and runs, vocabularies and device order do not depend on the range, so a Fleet
        of more days gives the same rows (tested: reports/test_releases_warm.py)."""
        f = self.fleet
        return (self.with_uses or not with_uses) and f.day0 <= lo and hi < f.day0 + f.n_days


# Ranges of days kept per store: a report's and its rollout's. A Fleet of 100,000 devices x 128
# days holds ~50 MB of use counts (the rollout's are zeros never touched), so few are kept.
_KEEP_FLEETS = 2
# Measurements kept per Fleet, least recently asked first (an answer from one moves it last;
# a new one pushes out the first): what the release file keeps, so the reports a restart
# answers without measuring (release_keep.quick_rows). 8 holds a product manager's usual
# reports (the default, a few windows, ranges or core sets) while bounding what each one
# costs in memory, in the file and in every update after a write (each is adjusted): ~36
# bytes per transition (2.2 MB for the 60,000 of bench growth's 300,000 devices, whose Fleet
# is 65 MB of the file; docs/performance.md, "Recently asked reports after a restart").
_KEEP_MEASURED = 8
AHEAD = 7  # days the warm-up's Fleet reaches past the default report's
_FLEETS: weakref.WeakKeyDictionary[Store, dict[tuple[int, int, bool], _Built]] = (
    weakref.WeakKeyDictionary()
)
_CODES: weakref.WeakKeyDictionary[Store, DeviceCodes] = weakref.WeakKeyDictionary()
# Device codes read from the release file, made into DeviceCodes at the first update.
_READ_CODES: weakref.WeakKeyDictionary[Store, CodeParts] = weakref.WeakKeyDictionary()
# One build at a time per store: a second request for the same days waits and takes the first
# one's Fleet instead of building another (seconds and GBs at a million devices).
_LOCKS: weakref.WeakKeyDictionary[Store, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _reading(store: Store, lo: int, hi: int, with_uses: bool = True) -> AsyncIterator[_Built]:
    """load_fleet's Fleet, counted as read until the block ends."""
    built = await load_fleet(store, lo, hi, with_uses, hold=True)
    try:
        yield built
    finally:
        built.readers -= 1


async def load_fleet(
    store: Store, lo: int, hi: int, with_uses: bool = True, hold: bool = False
) -> _Built:
    """A Fleet covering days [lo, hi] (with_uses=False: feature_use counts may be left at 0, for
    the rollout), as of the last write. A kept Fleet of a wider range (say the warm-up's default
    report) answers for the days inside it while no write came since; after a write the
    narrowest kept Fleet covering the days is updated for the devices that stored events
    (reports/fleets.py `update_fleet`), and only where that declines are the asked days built.
    hold: count the caller as a reader (under the lock, so no update writes into it first)."""
    lock = _LOCKS.get(store)
    if lock is None:
        lock = _LOCKS[store] = asyncio.Lock()
    async with lock:
        built = await _current(store, lo, hi, with_uses)
        built.readers += hold
        return built


async def _current(store: Store, lo: int, hi: int, with_uses: bool) -> _Built:
    """load_fleet's work, under its lock."""
    cache = _FLEETS.get(store)
    if cache is None:
        cache = _FLEETS[store] = {}
        asked: list[tuple[object, ...]] = []
        try:
            await _restore(store, cache)
        finally:
            asked = release_keep.drop_quick(store)  # a Fleet answers from now on
        for b in cache.values():  # the file's measurements, as recently as answered
            for key in asked:
                if key in b.measured:
                    b.measured[key] = b.measured.pop(key)
    seen = await store.events_seen()  # first: whatever is read after is at least this recent
    # The widest that covers the days: its measurements are the ones the release file keeps.
    current = [b for b in cache.values() if b.seen == seen and b.covers(lo, hi, with_uses)]
    if current:
        return max(current, key=lambda b: b.fleet.n_days)
    # Before the sources: a device whose rows differ between a kept Fleet and a build from
    # these sources stored an event after that Fleet's counters were read, so its counter
    # here differs from that Fleet's.
    counters = await store.events_seen_by_device()
    snapshot = await current_snapshot(store)
    runs = await current_run_columns(store)
    kept = _CODES.get(store)
    stale = [(k, b) for k, b in cache.items() if b.covers(lo, hi, with_uses)]
    if stale:
        key, old = min(stale, key=lambda kb: kb[1].fleet.n_days)
        if kept is None:  # only a Fleet read from the release file has no codes yet
            f = old.fleet
            kept = _CODES[store] = await off_loop(lambda: _read_codes(store, f, snapshot, runs))
        try:
            got = await _update(store, old, counters, snapshot, runs, kept, old.readers == 0)
        finally:  # updated: it goes last (pushed out last); declined: it would decline again;
            del cache[key]  # an error: it may have been written into halfway
        if got is not None:
            fleet, _CODES[store], measured = got
            built = cache[key] = _Built(
                seen, fleet, old.with_uses, counters, old.updates + 1, measured=measured
            )
            return built
    uses = await current_uses(store, lo, hi, seen, counters) if with_uses else None

    def build() -> tuple[Fleet, DeviceCodes]:
        names = [] if uses is None else uses.names
        codes = device_codes(kept, snapshot.vocab["device_id"], runs, names)
        return build_fleet(snapshot, runs, uses, lo, hi, codes), codes

    fleet, _CODES[store] = await off_loop(build)
    cache.pop((lo, hi, with_uses), None)
    while len(cache) >= _KEEP_FLEETS:
        cache.pop(next(iter(cache)))
    built = cache[(lo, hi, with_uses)] = _Built(seen, fleet, with_uses, counters)
    return built


async def _restore(store: Store, cache: dict[tuple[int, int, bool], _Built]) -> None:
    """The first Fleet of the process from the release file (reports/release_keep.py), where
    there is one to trust: kept as if built at its counters, so that the writes since are
    taken by the update below; its runs seed the run cache (only later changes are read)."""
    saved = await release_keep.restore(store)
    if saved is None:
        return
    # The file's runs (checked: its cursor not beyond the store's newest, no counter gone
    # back), then only the devices whose runs changed since are read.
    if seed_run_columns(store, saved.runs, saved.runs_cursor) and saved.codes is not None:
        _READ_CODES[store] = saved.codes
    f = saved.fleet
    measured = {measure_key(m.params): m for m in saved.measured if m.params is not None}
    cache[(f.day0, f.day0 + f.n_days - 1, True)] = _Built(
        saved.seen, f, True, saved.counters, measured=measured, written=True, unsaved=False
    )


def _read_codes(store: Store, f: Fleet, snapshot: Snapshot, runs: RunColumns) -> DeviceCodes:
    """The device codes of a Fleet read from the release file: the file's where its runs
    seeded the run cache, else made from the sources (with the Fleet's own device tuple where
    the devices are the same, so that its measurements are adjusted by the update)."""
    parts = _READ_CODES.pop(store, None)
    if parts is not None and parts.devices is f.devices:
        return parts.codes()
    codes = device_codes(None, snapshot.vocab["device_id"], runs, [])
    return dataclasses.replace(codes, devices=f.devices) if codes.devices == f.devices else codes


def _keep(store: Store, built: _Built) -> None:
    """Write a Fleet with use counts and its measurements to the release file when due
    (release_keep.due): a Fleet built in this process at once, other changes at intervals."""
    at_once = not built.written and built.updates == 0
    if built.with_uses and built.unsaved and release_keep.due(store, built.fleet.n_days, at_once):
        job = _save(store, built)
        if job is not None:
            release_keep.start(store, job)


def _save(store: Store, built: _Built) -> Coroutine[Any, Any, None] | None:
    """The writing of `built` (None: no runs read to keep with it), which holds it as read
    until its arrays are written: no update writes into them meanwhile."""
    runs = kept_run_columns(store)
    if runs is None:
        return None
    codes = _CODES.get(store)
    parts = (
        CodeParts.of(codes) if codes is not None and codes.devices is built.fleet.devices else None
    )
    built.readers += 1
    built.written, built.unsaved = True, False

    def done() -> None:
        built.readers -= 1

    measured = list(built.measured.values())[-_KEEP_MEASURED:]
    saved = SavedRelease(built.seen, built.counters, built.fleet, *runs, parts, measured)
    return release_keep.save(store, saved, done)


async def flush_releases(store: Store) -> None:
    """Write the widest kept Fleet with use counts if the file is older (at shutdown)."""
    await release_keep.wait(store)
    kept = [b for b in _FLEETS.get(store, {}).values() if b.with_uses]
    built = max(kept, key=lambda b: (b.fleet.n_days, b.seen), default=None)
    if built is not None and built.unsaved and release_keep.due(store, built.fleet.n_days, True):
        job = _save(store, built)
        if job is not None:
            await job


async def _update(
    store: Store,
    old: _Built,
    counters: Mapping[str, int],
    snapshot: Snapshot,
    runs: RunColumns,
    kept: DeviceCodes,
    in_place: bool,
) -> tuple[Fleet, DeviceCodes, dict[tuple[object, ...], Measured]] | None:
    """`old`'s Fleet brought up to date (reports/fleets.py), or None where it cannot be: the
    counts of the devices whose counter moved are read again, nothing else. Its measurements
    are adjusted for the changed devices (analytics/releases_update.py) where they can be."""
    was = old.counters
    changed = sorted(d for d, n in counters.items() if was.get(d) != n)
    f = old.fleet
    uses = None
    if old.with_uses:
        lo, hi = date.fromordinal(f.day0), date.fromordinal(f.day0 + f.n_days - 1)
        uses = (
            await store.feature_uses_packed(lo, hi, changed) if changed else PackedUses.of_rows([])
        )

    kept_measured = list(old.measured.items())  # requests may add to it meanwhile

    def update() -> tuple[Fleet, DeviceCodes, dict[tuple[object, ...], Measured]] | None:
        codes = device_codes(kept, snapshot.vocab["device_id"], runs, kept.use_names)
        shares = {}
        a0 = np.zeros(0, np.int64)
        if kept.devices is f.devices:  # the changed devices' codes in f known
            before = codes_of(changed, kept.index)
            a0 = np.unique(before[before >= 0])
            sub = subfleet(f, a0)  # before the update, which may write into f
            shares = {k: (m, sh) for k, m in kept_measured if (sh := share(sub, m)) is not None}
        up = update_fleet(f, snapshot, runs, codes, changed, uses, in_place)
        if up is None:
            return None
        measured = {}
        if shares:
            sub = subfleet(up.fleet, up.affected)
            for k, (m, sh) in shares.items():
                now = share(sub, m)
                got = None if now is None else remeasure(m, sh, up.fleet, now, a0, up.affected,
                                                         up.remap)  # fmt: skip
                if got is not None:
                    measured[k] = got
        return up.fleet, codes, measured

    return await off_loop(update)


async def release_rows(store: Store, settings: PesSettings, q: ReleaseQuery) -> list[ReleaseRow]:
    """One row per release and metric (ROW_KEYS), as the API and the CLI answer."""
    params = q.params(settings)
    lo, hi = q.start.toordinal() - q.window, q.end.toordinal() + q.window
    if not _FLEETS.get(store):  # a restart's first reports, from the release file's measurements
        rows = await release_keep.quick_rows(store, params, lo, hi)
        if rows is not None:
            return rows
    async with _reading(store, lo, hi) as built:
        key = measure_key(params)
        measured = built.measured.pop(key, None)
        if measured is None:
            measured = await off_loop(lambda: measure(built.fleet, params))
            while len(built.measured) >= _KEEP_MEASURED:  # the least recently asked
                built.measured.pop(next(iter(built.measured)))
            built.unsaved = True
        # Last: the most recently asked. A new order alone does not make the file due (a
        # write of it is ~1 s at a million devices); its next write takes the order along.
        built.measured[key] = measured
        _keep(store, built)
        done = measured
        return await off_loop(lambda: report_rows(built.fleet, params, done))


async def warm_up_releases(store: Store, settings: PesSettings, today: date | None = None) -> None:
    """Build the default report's Fleet and measurement (the last 90 days, W = 14; releases.md),
    as `serve`'s warm-up: the first `/v1/releases` after a start then finds them, and a report
    of fewer days inside that range is answered from the same Fleet. The Fleet reaches AHEAD
    days past the report's (empty until those days come): the next days' default reports, a
    restart's too (through the release file), are inside it."""
    q = make_release_query(settings, today=today)
    lo, hi = q.start.toordinal() - q.window, q.end.toordinal() + q.window
    async with _reading(store, lo, hi + AHEAD):
        pass
    await release_rows(store, settings, q)


async def rollout_table(store: Store, q: ReleaseQuery) -> Rollout:
    """Per day of [start, end] and device type the devices active on each version and their
    share; per version its first and last day (all stored history). Filtered by device type."""
    async with _reading(store, q.start.toordinal(), q.end.toordinal(), False) as built:
        out = await off_loop(lambda: rollout(built.fleet, q.start, q.end))
    if q.device_type is not None:
        out = {
            "days": [r for r in out["days"] if r["device_type"] == q.device_type],
            "versions": [v for v in out["versions"] if v["device_type"] == q.device_type],
        }
    return out
