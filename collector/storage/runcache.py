"""Firmware runs held in memory per open store as columns, refreshed by version.

The release engine reads every run of the fleet for every report. They are kept as columns of
codes (`RunColumns`), read packed (`Store.firmware_runs_packed`): the first read takes all runs,
later reads only the devices whose runs changed since the cursor, whose rows replace theirs
(a device's runs are always rewritten whole). Columns are replaced, never changed in place: a
request keeps the ones it took while later refreshes run.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from collector.storage.base import Store
from collector.storage.packed import PackedRuns, code
from collector.storage.runbook import NO_RUNS_CURSOR
from collector.storage.runs import Run

Ints = npt.NDArray[np.int64]
_NONE = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class RunColumns:
    """One row per run: codes into `names` (devices), `types`, `firmwares` (vocabularies that
    only grow, shared between columns of one store), first and last day. A device's rows are
    contiguous and in event order; devices come in any order."""

    names: Sequence[str]
    types: Sequence[str]
    firmwares: Sequence[str]
    device: Ints
    type: Ints
    firmware: Ints
    first_day: Ints
    last_day: Ints

    @classmethod
    def of_runs(cls, runs: Mapping[str, Sequence[Run]]) -> RunColumns:
        """Columns of runs per device (each device's in event order)."""
        rows = [(d, r) for d in sorted(runs) for r in runs[d]]
        names, device = code([d for d, _ in rows])
        types, type_ = code([r.device_type for _, r in rows])
        firmwares, firmware = code([r.firmware for _, r in rows])
        return cls(
            names, types, firmwares, device, type_, firmware,
            np.fromiter((r.first_day for _, r in rows), np.int64, len(rows)),
            np.fromiter((r.last_day for _, r in rows), np.int64, len(rows)),
        )  # fmt: skip


@dataclass(slots=True)
class _Vocab:
    values: list[str] = field(default_factory=list)
    index: dict[str, int] | None = None  # made at the first lookup (seeded: at the first change)

    def codes(self, values: Sequence[str]) -> Ints:
        """The codes of `values`, new ones appended (readers of older columns never see them:
        their codes stop below)."""
        if self.index is None:
            self.index = {v: i for i, v in enumerate(self.values)}
        for v in values:
            if v not in self.index:
                self.index[v] = len(self.values)
                self.values.append(v)
        return np.asarray([self.index[v] for v in values], np.int64).reshape(len(values))


@dataclass(slots=True)
class _State:
    cursor: int = NO_RUNS_CURSOR
    devices: _Vocab = field(default_factory=_Vocab)
    types: _Vocab = field(default_factory=_Vocab)
    firmwares: _Vocab = field(default_factory=_Vocab)
    columns: RunColumns | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_STATES: weakref.WeakKeyDictionary[Store, _State] = weakref.WeakKeyDictionary()


def seed_run_columns(store: Store, columns: RunColumns, cursor: int) -> bool:
    """Start this store's runs from `columns` as read up to `cursor` (a kept copy, say of the
    file of reports/release_keep.py), so that the next read takes only the devices changed
    since. False (nothing done) once the runs were read in this process."""
    if store in _STATES:
        return False
    state = _STATES[store] = _State(cursor)
    state.devices.values = list(columns.names)
    state.types.values = list(columns.types)
    state.firmwares.values = list(columns.firmwares)
    v = (state.devices.values, state.types.values, state.firmwares.values)
    state.columns = RunColumns(*v, columns.device, columns.type, columns.firmware,
                               columns.first_day, columns.last_day)  # fmt: skip
    return True


def kept_run_columns(store: Store) -> tuple[RunColumns, int] | None:
    """The runs as last read in this process and the cursor they were read up to (None: not
    read). The name lists are copies: the kept ones grow in place."""
    state = _STATES.get(store)
    if state is None or state.columns is None:
        return None
    c = state.columns
    return RunColumns(list(c.names), list(c.types), list(c.firmwares), c.device, c.type,
                      c.firmware, c.first_day, c.last_day), state.cursor  # fmt: skip


async def current_run_columns(store: Store) -> RunColumns:
    """Bring the runs up to date (only the devices changed since the last read) and return them."""
    state = _STATES.get(store)
    if state is None:
        state = _STATES[store] = _State()
    async with state.lock:
        packed = await store.firmware_runs_packed(state.cursor)
        if state.columns is None or len(packed.device):
            state.columns = _merge(state, packed)
        state.cursor = packed.cursor
        return state.columns


def _merge(state: _State, packed: PackedRuns) -> RunColumns:
    """The state's columns with every row of the packed devices replaced by theirs."""
    dev = state.devices.codes(packed.devices)[packed.device]
    typ = state.types.codes(packed.types)[packed.type]
    fw = state.firmwares.codes(packed.firmwares)[packed.firmware]
    old = state.columns
    fresh = [dev, typ, fw, packed.first_day, packed.last_day]
    if old is not None:
        keep = ~np.isin(old.device, dev)
        olds = (old.device, old.type, old.firmware, old.first_day, old.last_day)
        fresh = [np.concatenate([a[keep], b]) for a, b in zip(olds, fresh, strict=True)]
    d, t, f, first, last = fresh
    names, types, fws = state.devices.values, state.types.values, state.firmwares.values
    return RunColumns(names, types, fws, d, t, f, first, last)
