"""The release Fleet kept in a file next to the analytics state's, so that the first
`/v1/releases` after a restart reads it instead of reading every run and feature_use count of the
fleet and building the Fleet (13-17 s at a million devices; docs/scaling.md, "Restarts").

`keep(store, storage)` turns it on for an open store (`serve` does, next to warmstart.keep_warm);
then
- the first release request (or warm-up) of the process tries the file (`restore`). It is used
  only if it is whole (release_file checks), of this store (identity and schema, as the
  analytics file), and the store has not gone back: it has seen at least the file's events, no
  device's counter is below the file's, and sampled devices whose counter has not moved still
  have the file's use counts. Anything else is logged and refused: the Fleet is built as
  without a file. Writes since the file was saved are then taken by the update after a write
  (reports/fleets.py `update_fleet`): the devices whose counter moved are read again.
- after a Fleet (with use counts) is built or updated, reports/releases.py asks `due` and
  writes it in a worker thread (`start`, `save`): at once after a build, then at most every
  `analytics_snapshot_interval_s` while writes come, and at shutdown (`flush_releases`). A write
  is a temporary file renamed over the old one, as the analytics file's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.analytics.releases import (
    Measured,
    ReleaseParams,
    ReleaseRow,
    measure_key,
    report_rows,
)
from collector.analytics.releases_fleet import Fleet
from collector.analytics.state_file import StateFileError
from collector.reports.release_file import Quick, SavedRelease, read, read_quick, write
from collector.reports.tables import off_loop
from collector.reports.warmstart import other_store, snapshot_path
from collector.settings import StorageSettings
from collector.storage import Store

log = logging.getLogger(__name__)
PROBES = 64  # devices whose use counts are compared with the store's on reading


@dataclass(slots=True)
class Keeper:
    path: Path
    interval_s: float
    saved_days: int = 0  # its number of days: a narrower Fleet does not replace it at once
    saved_at: float | None = None  # monotonic; None: nothing written or read by this process
    tried: bool = False  # the file's Fleet (restore)
    tried_quick: bool = False  # the file's answers (restore_quick)
    refused: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


_KEEPERS: weakref.WeakKeyDictionary[Store, Keeper] = weakref.WeakKeyDictionary()


def release_path(storage: StorageSettings) -> Path | None:
    """Next to the analytics state's file (warmstart.snapshot_path), None where that is off."""
    path = snapshot_path(storage)
    if path is None:
        return None
    suffix = ".analytics.npz"
    if path.name.endswith(suffix):
        return path.with_name(path.name[: -len(suffix)] + ".releases.npz")
    return path.with_name(path.name.replace("pes-analytics-", "pes-releases-", 1))


def keep(store: Store, storage: StorageSettings) -> Path | None:
    """Read and write the release Fleet of `store` at `release_path`; returns it (None: off)."""
    path = release_path(storage)
    if path is not None:
        _KEEPERS[store] = Keeper(path, storage.analytics_snapshot_interval_s)
    return path


async def restore(store: Store) -> SavedRelease | None:
    """The file's Fleet, checked against the store; None (and a log line saying why) if there
    is none or it cannot be trusted. Tried once per process and store."""
    k = _KEEPERS.get(store)
    if k is None or k.tried:
        return None
    k.tried = True
    if not k.path.exists():
        log.info("no release file at %s yet: the Fleet is built", k.path)
        return None
    t0 = time.perf_counter()
    try:
        head, saved = await asyncio.to_thread(read, k.path)
        reason = await _distrust(store, head, saved)
    except (StateFileError, OSError) as exc:
        reason = str(exc)
    if reason is not None:
        if not k.refused:  # restore_quick said so already
            log.warning("release file %s refused (%s): the Fleet is built", k.path, reason)
        k.refused = True
        return None
    k.saved_days, k.saved_at = saved.fleet.n_days, time.monotonic()
    log.info("release Fleet read from %s in %.2f s: %d devices x %d days, %d events seen",
             k.path, time.perf_counter() - t0, len(saved.fleet.devices), saved.fleet.n_days,
             saved.seen)  # fmt: skip
    return saved


async def restore_quick(store: Store) -> Quick | None:
    """The file's measurements and vocabularies (release_file.Quick), to answer the reports it
    measured before its Fleet is read, where nothing was written since (else None: `restore`
    takes the writes). Checked as `restore` checks; a refusal is logged once and also ends
    `restore`'s try."""
    k = _KEEPERS.get(store)
    if k is None or k.refused or k.tried_quick or not k.path.exists():
        return None
    k.tried_quick = True
    t0 = time.perf_counter()
    try:
        head, quick = await asyncio.to_thread(read_quick, k.path)
        reason = await _foreign(store, head, quick.seen)
        seen = await store.events_seen()
        if reason is None and seen != quick.seen:
            return None  # written since: the Fleet is read and updated
        if reason is None:
            reason = await _uses_differ(store, quick.devices, quick.uses_of, quick.stub, set())
    except (StateFileError, OSError) as exc:
        reason = str(exc)
    if reason is not None:
        if not k.refused:  # restore said so already
            log.warning("release file %s refused (%s): the Fleet is built", k.path, reason)
        k.tried = k.refused = True
        return None
    log.info("release measurements read from %s in %.2f s: %d, %d events seen",
             k.path, time.perf_counter() - t0, len(quick.measured), quick.seen)  # fmt: skip
    return quick


async def _foreign(
    store: Store, head: dict[str, Any], file_seen: int, runs_cursor: int | None = None
) -> str | None:
    """Why the file is not of this store or is ahead of it (its events, its run cursor), or
    None."""
    mark = await store.analytics_mark()
    if (reason := other_store(head, mark)) is not None:
        return reason
    if runs_cursor is not None and runs_cursor > mark.runs:
        return f"run cursor {runs_cursor} is beyond the store's newest {mark.runs}"
    seen = await store.events_seen()
    if file_seen > seen:
        return f"the file has seen {file_seen} events, the store {seen}"
    return None


async def _distrust(store: Store, head: dict[str, Any], saved: SavedRelease) -> str | None:
    """Why the file's Fleet cannot stand for this store as of its counters, or None."""
    if (reason := await _foreign(store, head, saved.seen, saved.runs_cursor)) is not None:
        return reason
    seen = await store.events_seen()
    moved: set[str] = set()
    if seen != saved.seen:  # writes since: every counter must have stayed or grown
        now = await store.events_seen_by_device()
        for d, n in saved.counters.items():
            got = now.get(d)
            if got is None or got < n:
                return f"device {d!r} has seen {got} events, {n} in the file"
        moved = {d for d, n in now.items() if saved.counters.get(d) != n}
    f = saved.fleet
    return await _uses_differ(store, f.devices, lambda rows: f.uses[rows], f, moved)


async def _uses_differ(
    store: Store,
    devices: Sequence[str],
    uses_of: Callable[[list[int]], npt.NDArray[Any]],
    f: Fleet,
    moved: set[str],
) -> str | None:
    """Up to PROBES devices with use counts (`uses_of` their rows), spread over the Fleet's
    `devices`, whose counter has not moved: their counts over f's days must be the store's."""
    n = len(devices)
    spread = np.unique(np.linspace(0, n - 1, min(4 * PROBES, n)).astype(np.int64))
    rows = [i for i in spread.tolist() if devices[i] not in moved]
    if rows:
        used = np.flatnonzero(np.asarray(uses_of(rows)).any(axis=1))
        rows = [rows[i] for i in used.tolist()][:PROBES]
    if not rows:
        return None
    names = [devices[i] for i in rows]
    lo, hi = date.fromordinal(f.day0), date.fromordinal(f.day0 + f.n_days - 1)
    packed = await store.feature_uses_packed(lo, hi, names)
    at = {d: i for i, d in enumerate(names)}
    got = np.zeros((len(rows), f.n_days), np.int64)
    dev = np.repeat(np.asarray([at.get(d, -1) for d in packed.names], np.int64), packed.counts)
    col = packed.day - f.day0
    ok = (dev >= 0) & (col >= 0) & (col < f.n_days)
    got[dev[ok], col[ok]] = packed.uses[ok]
    differ = np.flatnonzero((got != uses_of(rows)).any(axis=1))
    if len(differ):
        return f"device {names[int(differ[0])]!r}'s use counts differ from the store's"
    return None


_QUICK: weakref.WeakKeyDictionary[Store, tuple[Quick, dict[tuple[object, ...], Measured]]] = (
    weakref.WeakKeyDictionary()
)


async def quick_rows(
    store: Store, params: ReleaseParams, lo: int, hi: int
) -> list[ReleaseRow] | None:
    """A report whose measurement the file keeps, for days [lo, hi] inside its Fleet, while
    nothing was written since, answered before the Fleet is read (`restore_quick`); None
    where not (the caller reads the Fleet). Until `drop_quick`."""
    got = _QUICK.get(store)
    if got is None:
        quick = await restore_quick(store)
        if quick is None:
            return None
        kept = {measure_key(m.params): m for m in quick.measured if m.params is not None}
        got = _QUICK[store] = (quick, kept)
    quick, kept = got
    key = measure_key(params)
    m, f = kept.get(key), quick.stub
    if m is None or not f.day0 <= lo <= hi < f.day0 + f.n_days:
        return None
    if await store.events_seen() != quick.seen:
        return None
    kept[key] = kept.pop(key)  # asked last: see drop_quick
    return await off_loop(lambda: report_rows(f, params, m))


def drop_quick(store: Store) -> list[tuple[object, ...]]:
    """The Fleet answers from now on (its measurements are the file's too). Returns the
    measure keys of the file's measurements, least recently asked first (answers given here
    count), for the Fleet's kept measurements to take that order; [] where none were read."""
    got = _QUICK.pop(store, None)
    return [] if got is None else list(got[1])


def due(store: Store, n_days: int, at_once: bool) -> bool:
    """Whether a Fleet of `n_days` days that holds what the file does not is to be written
    now: not while a write runs; when the process has written or read none yet; `at_once`
    (a Fleet new to the file) unless it is narrower than the file's; else once `interval_s`
    has passed since the last write."""
    k = _KEEPERS.get(store)
    if k is None or (k.task is not None and not k.task.done()):
        return False
    if k.saved_at is None:
        return True
    waited = time.monotonic() - k.saved_at >= k.interval_s
    return (at_once and n_days >= k.saved_days) or waited


def start(store: Store, job: Coroutine[Any, Any, None]) -> None:
    """Run a `save` in the background (one at a time: see `due`)."""
    _KEEPERS[store].task = asyncio.create_task(job)


async def wait(store: Store) -> None:
    """Until a write started by `save_soon` has ended."""
    k = _KEEPERS.get(store)
    if k is not None and k.task is not None:
        await asyncio.gather(k.task, return_exceptions=True)


async def save(store: Store, saved: SavedRelease, done: Callable[[], None]) -> None:
    """Write `saved` in a worker thread; `done` is called once its arrays are no longer read."""
    k = _KEEPERS[store]
    k.saved_at = time.monotonic()
    try:
        mark = await store.analytics_mark()
        t0 = time.perf_counter()
        header = {"identity": mark.identity, "schema": mark.schema}
        size = await asyncio.to_thread(write, saved, k.path, header)
    except Exception as exc:  # a failed write must not fail a request
        log.warning("release file %s not written: %s", k.path, exc)
        return
    finally:
        done()
    k.saved_days = saved.fleet.n_days
    log.info("release file %s written in %.2f s (%.0f MB, %d events seen)",
             k.path, time.perf_counter() - t0, size / 1e6, saved.seen)  # fmt: skip
