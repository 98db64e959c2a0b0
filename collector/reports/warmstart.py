"""Warm start: the analytics state of tables.py kept in a file, so that the first request after a
restart reads the file and then only the bitmap rows changed since, instead of every row and
every combination's names (seconds at a million devices; docs/scaling.md, "Restarts").

`keep_warm(store, settings)` turns it on for an open store (`serve` does); then
- the first refresh of the process tries the file (`restore`). It is used only if it is whole
  (state_file checks), of this store (identity, schema), and the store still holds what it read:
  its cursor is not beyond the store's newest, its combination and feature ids exist with the
  same names (a sample), and sampled activity rows the store has not changed since still have
  the file's bits. Anything else is logged and refused: the full load runs as without a file.
- after a refresh (`after_refresh`) the state is written in a worker thread: at once after a
  full load, then at most every `interval_s` while the cursor moves, and at shutdown (`flush`).
  A write is a temporary file renamed over the old one, so processes sharing the file (several
  collectors on one PostgreSQL with one directory) each see a whole file, the last one renamed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from collector.analytics.state import ATTRS, CubeState
from collector.analytics.state_file import Saved, StateFileError, read, write
from collector.settings import StorageSettings
from collector.storage import NO_CURSOR, Cursor, Store, sqlite_path
from collector.storage.marks import AnalyticsMark, ProbeKey

log = logging.getLogger(__name__)
PROBES = 64  # activity rows and combination names sampled against the store on reading


@dataclass(slots=True)
class Keeper:
    path: Path
    interval_s: float
    state: CubeState | None = None  # the latest refreshed state of the store
    saved_cursor: Cursor = NO_CURSOR
    saved_at: float | None = None  # monotonic; None: nothing written or read by this process
    tried: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


_KEEPERS: weakref.WeakKeyDictionary[Store, Keeper] = weakref.WeakKeyDictionary()


def snapshot_path(storage: StorageSettings) -> Path | None:
    """Where the state of this store is kept: next to a SQLite file, or in
    `analytics_snapshot_dir` (required for PostgreSQL) under a name derived from the store's
    URL without its password; None when off or for an in-memory store."""
    if not storage.analytics_snapshot:
        return None
    url = storage.url
    if url.startswith("sqlite:"):
        db = sqlite_path(url)
        if db == ":memory:":
            return None
        if storage.analytics_snapshot_dir is None:
            return Path(f"{db}.analytics.npz")
        name = f"sqlite:{os.path.abspath(db)}"
    elif storage.analytics_snapshot_dir is None:
        return None
    else:  # the name must not depend on (or leak) the password
        p = urlsplit(url)
        name = f"postgresql://{p.username or ''}@{p.hostname}:{p.port}{p.path}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path(storage.analytics_snapshot_dir or ".") / f"pes-analytics-{digest}.npz"


def keep_warm(store: Store, storage: StorageSettings) -> Path | None:
    """Read and write the state of `store` at `snapshot_path`; returns it (None: off)."""
    path = snapshot_path(storage)
    if path is not None:
        _KEEPERS[store] = Keeper(path, storage.analytics_snapshot_interval_s)
    return path


async def restore(store: Store) -> CubeState | None:
    """The state in the file, checked against the store; None (and a log line saying why) if
    there is none or it cannot be trusted. Tried once per process and store."""
    k = _KEEPERS.get(store)
    if k is None or k.tried:
        return None
    k.tried = True
    if not k.path.exists():
        log.info("no analytics snapshot at %s yet: full load", k.path)
        return None
    t0 = time.perf_counter()
    try:
        head, state = await asyncio.to_thread(read, k.path)
        reason = await _distrust(store, head, state)
    except (StateFileError, OSError) as exc:
        reason = str(exc)
    if reason is not None:
        log.warning("analytics snapshot %s refused (%s): full load", k.path, reason)
        return None
    k.saved_cursor, k.saved_at = state.cursor, time.monotonic()
    log.info("analytics state read from %s in %.2f s: %d combinations at cursor %s",
             k.path, time.perf_counter() - t0, state.n, state.cursor)  # fmt: skip
    return state


def other_store(head: dict[str, Any], mark: AnalyticsMark) -> str | None:
    """Why a kept file's header is not of this store (its identity, its schema), or None: the
    first check of both kept files (this one and reports/release_keep.py's)."""
    if head.get("identity") != mark.identity:
        return f"written for {head.get('identity')!r}, this store is {mark.identity!r}"
    if head.get("schema") != mark.schema:
        return f"schema {head.get('schema')}, the store's is {mark.schema}"
    return None


async def _distrust(store: Store, head: dict[str, Any], state: CubeState) -> str | None:
    """Why the file's state cannot stand for this store's rows up to its cursor, or None."""
    keys, bits = _probe(state)
    mark = await store.analytics_mark(keys)
    if (reason := other_store(head, mark)) is not None:
        return reason
    if any(c > n for c, n in zip(state.cursor, mark.newest, strict=True)):
        return f"cursor {state.cursor} is beyond the store's newest {mark.newest}"
    known = np.flatnonzero(state.row_of >= 0)
    if len(known) and int(known[-1]) > mark.combos:
        return "combinations the store does not have"
    if state.feature_ids and max(state.feature_ids) > mark.features:
        return "features the store does not have"
    if (why := _probed(mark, keys, bits, state.cursor[0])) is not None:
        return why
    return await _names_differ(store, state)


def _probe(state: CubeState) -> tuple[list[ProbeKey], list[int]]:
    """Up to PROBES stored activity rows, spread over the state, and their bits (int64)."""
    snap = state.snapshot
    rows, cols = np.nonzero(snap.act)
    if not len(rows):
        return [], []
    pick = np.unique(np.linspace(0, len(rows) - 1, min(PROBES, len(rows))).astype(np.int64))
    ids = np.full(len(snap.first), -1, np.int64)
    known = np.flatnonzero(state.row_of >= 0)
    ids[state.row_of[known]] = known
    r, c = rows[pick], cols[pick]
    keys = list(zip(ids[r].tolist(), (c + snap.block0).tolist(), strict=True))
    return keys, snap.act[r, c].view(np.int64).tolist()


def _probed(mark: AnalyticsMark, keys: list[ProbeKey], bits: list[int], cursor: int) -> str | None:
    found = {(c, b): (v, ver) for c, b, v, ver in mark.probe}
    for key, expected in zip(keys, bits, strict=True):
        got = found.get(key)
        if got is None:
            return f"activity row {key} is not in the store"
        if mark.was_read(got[1], cursor) and got[0] != expected:
            return f"activity row {key} differs from the store's at the same version"
    return None


async def _names_differ(store: Store, state: CubeState) -> str | None:
    """A sample of combination names (spread over the ids, the newest included) and every
    feature name, compared with the store's."""
    ids = np.flatnonzero(state.row_of >= 0)
    at = np.linspace(0, len(ids) - 1, min(PROBES, len(ids))).astype(np.int64)
    sample = sorted(set(ids[at].tolist()))
    combos, features = await store.analytics_names(sample, sorted(state.feature_ids))
    if len(combos) != len(sample) or len(features) != len(state.feature_ids):
        return "combinations or features missing from the store"
    for combo in combos:
        row = int(state.row_of[combo[0]])
        mine = tuple(state.vocabs[a].values[state.codes[k][row]] for k, a in enumerate(ATTRS))
        if mine != tuple(combo[1:]):
            return f"combination {combo[0]} is {combo[1:]} in the store, {mine} in the file"
    for fid, name in features:
        if state.features.values[state.feature_ids[fid]] != name:
            return f"feature {fid} is {name!r} in the store"
    return None


def after_refresh(store: Store, state: CubeState, *, full_load: bool) -> None:
    """Called by tables.current_snapshot after each refresh: start a write when one is due
    (after a full load at once, else once `interval_s` has passed and the cursor moved)."""
    k = _KEEPERS.get(store)
    if k is None:
        return
    k.state = state
    if (k.task is not None and not k.task.done()) or state.cursor == k.saved_cursor:
        return
    due = full_load or k.saved_at is None or time.monotonic() - k.saved_at >= k.interval_s
    if due:
        k.task = asyncio.create_task(_save(store, k, state))


async def flush(store: Store) -> None:
    """Write the latest state if it moved since the last write (at shutdown)."""
    k = _KEEPERS.get(store)
    if k is None:
        return
    if k.task is not None:
        await asyncio.gather(k.task, return_exceptions=True)
    if k.state is not None and k.state.cursor != k.saved_cursor:
        await _save(store, k, k.state)


async def _save(store: Store, k: Keeper, state: CubeState) -> None:
    # Taken on the event loop, where no refresh is half done (a refresh changes the state
    # only between its awaits), then written in a thread.
    saved = Saved.of(state)
    k.saved_at = time.monotonic()
    try:
        mark = await store.analytics_mark()
        t0 = time.perf_counter()
        header = {"identity": mark.identity, "schema": mark.schema}
        size = await asyncio.to_thread(write, saved, k.path, header)
    except Exception as exc:  # a failed write must not fail a request
        log.warning("analytics snapshot %s not written: %s", k.path, exc)
        return
    k.saved_cursor = saved.cursor
    log.info("analytics snapshot %s written in %.2f s (%.0f MB, cursor %s)",
             k.path, time.perf_counter() - t0, size / 1e6, saved.cursor)  # fmt: skip
