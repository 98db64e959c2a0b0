"""feature_use counts per (device, day) held in memory per open store, refreshed by device.

The release engine reads these counts for every report (millions of rows at fleet scale: the
`feature_day` rollup summed per device and day). They are kept as columns over a range of days;
a request first reads `Store.events_seen` (one number): unchanged, the columns are current;
moved, it reads `Store.events_seen_by_device` and reads again the counts of the devices whose
counter moved, keeping the others. A device's counter moves with every event it stores, in the
transaction that changes its rollups, and the counters are read before the counts, so a device
whose counts changed is always among those read again. Columns are replaced, never changed in
place: a request keeps the ones it took while later refreshes run.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from collector.storage.base import Store
from collector.storage.packed import PackedUses
from collector.storage.runbook import UsesRow

Ints = npt.NDArray[np.int64]
_NONE = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class UseColumns:
    """Rows (device code, day ordinal, feature_use events), one per device and day; `names`
    maps a device code to its id (codes are never reused; names only grow)."""

    names: Sequence[str]
    device: Ints
    day: Ints
    uses: Ints

    @classmethod
    def of(cls, rows: Sequence[UsesRow], names: list[str] | None = None) -> UseColumns:
        """Columns of store rows; device codes appended to `names` (a new list if None)."""
        names = [] if names is None else names
        index = {d: i for i, d in enumerate(names)}
        codes = []
        for r in rows:
            code = index.get(r[0])
            if code is None:
                code = index[r[0]] = len(names)
                names.append(r[0])
            codes.append(code)
        return cls(
            names,
            np.asarray(codes, np.int64).reshape(len(rows)),
            np.fromiter((r[1] for r in rows), np.int64, len(rows)),
            np.fromiter((r[2] for r in rows), np.int64, len(rows)),
        )

    @classmethod
    def of_packed(cls, packed: PackedUses, names: list[str] | None = None) -> UseColumns:
        """Columns of a packed read (one Python step per device, not per row); device codes
        appended to `names` (the packed names themselves if None)."""
        if names is None:
            names, codes = packed.names, np.arange(len(packed.names), dtype=np.int64)
        else:
            index = {d: i for i, d in enumerate(names)}
            for d in packed.names:
                if d not in index:
                    index[d] = len(names)
                    names.append(d)
            codes = np.asarray([index[d] for d in packed.names], np.int64)
        return cls(names, np.repeat(codes, packed.counts), packed.day, packed.uses)


@dataclass(slots=True)
class _State:
    lo: int = 0
    hi: int = -1  # empty range: nothing loaded yet
    seen: int = -1  # Store.events_seen when `counters` were read
    counters: dict[str, int] = field(default_factory=dict)
    columns: UseColumns = field(default_factory=lambda: UseColumns([], _NONE, _NONE, _NONE))
    # The columns' names (appended to in place: codes are never reused, so columns a request
    # holds keep meaning the same devices) and name -> code, built at the first partial read
    # and extended after: a million-entry dict per refresh cost about a second.
    names: list[str] = field(default_factory=list)
    index: dict[str, int] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_STATES: weakref.WeakKeyDictionary[Store, _State] = weakref.WeakKeyDictionary()


async def current_uses(
    store: Store,
    lo: int,
    hi: int,
    seen: int | None = None,
    counters: dict[str, int] | None = None,
) -> UseColumns:
    """The counts of days [lo, hi] (ordinals; the columns may hold more days), up to date as of
    `seen` (a Store.events_seen the caller just read; read here if None) and `counters` (its
    Store.events_seen_by_device, read after `seen`; read here if None and needed)."""
    state = _STATES.get(store)
    if state is None:
        state = _STATES[store] = _State()
    async with state.lock:
        seen = await store.events_seen() if seen is None else seen
        covered = state.lo <= lo and hi <= state.hi
        if covered and seen == state.seen:
            return state.columns
        if counters is None:
            counters = await store.events_seen_by_device()
        if not covered:  # another range: read it whole
            packed = await store.feature_uses_packed(date.fromordinal(lo), date.fromordinal(hi))
            state.columns, state.lo, state.hi = UseColumns.of_packed(packed), lo, hi
            state.names, state.index = packed.names, None
        else:
            old = state.counters
            changed = sorted(d for d, n in counters.items() if old.get(d) != n)
            if changed:
                packed = await store.feature_uses_packed(
                    date.fromordinal(state.lo), date.fromordinal(state.hi), changed
                )
                state.columns = _replace(state, changed, packed)
        state.counters, state.seen = counters, sum(counters.values())
        return state.columns


def _replace(state: _State, devices: Sequence[str], rows: PackedUses) -> UseColumns:
    """The state's columns with every row of `devices` replaced by `rows`."""
    cols, names = state.columns, state.names
    if state.index is None:
        state.index = {d: i for i, d in enumerate(names)}
    index = state.index
    gone = np.asarray([index[d] for d in devices if d in index], np.int64)
    for d in rows.names:
        if d not in index:
            index[d] = len(names)
            names.append(d)
    fresh = np.asarray([index[d] for d in rows.names], np.int64).reshape(len(rows.names))
    keep = ~np.isin(cols.device, gone)
    return UseColumns(
        names,
        np.concatenate([cols.device[keep], np.repeat(fresh, rows.counts)]),
        np.concatenate([cols.day[keep], rows.day]),
        np.concatenate([cols.uses[keep], rows.uses]),
    )
