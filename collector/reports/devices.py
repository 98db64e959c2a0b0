"""The device vocabulary of a release Fleet, kept between builds of one store's Fleets.

A Fleet names its devices by their position in the sorted union of the analytics snapshot's
devices and the devices with firmware runs (its device order, so its answers, do not depend on
where the names came from). Mapping a million names into that order costs seconds of Python;
after a write that brought no new device (late events, upgrades, new days) the vocabulary is the
same, so the codes of each source's names are kept and only checked: every source's name list
only grows, and a list compared with its kept copy compares item identities first (a few ms at
a million names). The use counts' names (storage/usecache.py) grow with the devices read again,
so only their new tail is looked up.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from collector.storage.runcache import RunColumns

Ints = npt.NDArray[np.int64]


def codes_of(names: Sequence[str], index: dict[str, int]) -> Ints:
    """The codes in `index` of `names` (-1 for a name it lacks)."""
    return np.fromiter((index.get(v, -1) for v in names), np.int64, len(names))


@dataclass(frozen=True, slots=True)
class DeviceCodes:
    """`devices` (sorted) and, per source, the device code of each of its names' codes."""

    devices: tuple[str, ...]
    index: dict[str, int]
    snap_names: Sequence[str]  # the sources' names as they were at the build (a copy where
    run_names: list[str]  # the source list grows in place: the runs' names)
    present: Ints  # run name codes that have runs
    snap_codes: Ints  # snapshot device_id code -> device code
    run_codes: Ints  # run name code -> device code (-1: no run, not in the Fleet)
    use_names: list[str]
    use_codes: Ints  # use name code -> device code (-1: not in the Fleet, its uses dropped)
    # When made from kept codes by inserting new devices: the kept `devices` and, per new
    # device (in order), its position among them (old code c is now c + #positions <= c).
    grown_from: tuple[str, ...] = ()
    inserted: Ints = field(default_factory=lambda: np.zeros(0, np.int64))

    def moved(self, old: Ints) -> Ints:
        """The codes now of `grown_from`'s codes `old` (-1 stays -1)."""
        shift = np.searchsorted(self.inserted, old, "right")
        return np.where(old >= 0, old + shift, -1)

    def same_devices(self, snap_names: Sequence[str], runs: RunColumns, present: Ints) -> bool:
        return (
            len(snap_names) == len(self.snap_names)
            and len(runs.names) == len(self.run_names)
            and np.array_equal(present, self.present)
            and _same(snap_names, self.snap_names)
            and _same(runs.names, self.run_names)
        )


def _same(names: Sequence[str], kept: Sequence[str]) -> bool:
    """`names` (as long as `kept`) holds kept's names: a list is only ever appended to, so the
    same object of the same length is (the snapshot's and the runs' lists are kept as they
    are), else compared item by item."""
    return names is kept or list(names) == list(kept)


def device_codes(
    kept: DeviceCodes | None,
    snap_names: Sequence[str],
    runs: RunColumns,
    use_names: Sequence[str],
) -> DeviceCodes:
    """The codes for these sources: `kept`'s when they name the same devices (new use names
    looked up), else built anew."""
    # run name codes with runs, ascending (a bincount: np.unique would sort every run)
    present = np.flatnonzero(np.bincount(runs.device, minlength=len(runs.names)))
    if kept is not None and kept.same_devices(snap_names, runs, present):
        n = len(kept.use_names)
        if len(use_names) >= n and list(use_names[:n]) == kept.use_names:
            tail = codes_of(use_names[n:], kept.index)
            use_codes = np.concatenate([kept.use_codes, tail]) if len(tail) else kept.use_codes
        else:
            use_codes = codes_of(use_names, kept.index)
        return DeviceCodes(
            kept.devices, kept.index, kept.snap_names, kept.run_names, kept.present,
            kept.snap_codes, kept.run_codes, list(use_names), use_codes,
        )  # fmt: skip
    if kept is not None and (grown := _grown(kept, snap_names, runs, use_names, present)):
        return grown
    run_names = [runs.names[i] for i in present.tolist()]
    devices = tuple(sorted({*run_names, *snap_names}))
    index = {d: i for i, d in enumerate(devices)}
    run_codes = np.full(len(runs.names), -1, np.int64)
    run_codes[present] = codes_of(run_names, index)
    return DeviceCodes(
        devices, index, snap_names, list(runs.names), present,
        codes_of(snap_names, index), run_codes, list(use_names), codes_of(use_names, index),
    )  # fmt: skip


def _grown(
    kept: DeviceCodes, snap_names: Sequence[str], runs: RunColumns, use_names: Sequence[str],
    present: Ints,
) -> DeviceCodes | None:  # fmt: skip
    """kept's codes for sources that only gained names: the new devices inserted in order and
    every kept code moved past them (no sort and no lookup of every name; one dict of them is
    built). None when a source lost or changed a name kept."""
    ns, nr = len(kept.snap_names), len(kept.run_names)
    if len(snap_names) < ns or len(runs.names) < nr:
        return None
    had = np.zeros(len(runs.names), np.bool_)
    had[present] = True
    if not had[kept.present].all():
        return None
    if list(snap_names[:ns]) != list(kept.snap_names) or list(runs.names[:nr]) != kept.run_names:
        return None
    had[kept.present] = False
    gained = np.flatnonzero(had)  # run names with runs now, without before
    names = [runs.names[i] for i in gained.tolist()] + list(snap_names[ns:])
    new = sorted({d for d in names if d not in kept.index})
    at = [bisect_left(kept.devices, d) for d in new]
    devices: list[str] = []
    prev = 0
    for d, i in zip(new, at, strict=True):
        devices += kept.devices[prev:i]
        devices.append(d)
        prev = i
    devices += kept.devices[prev:]
    out = DeviceCodes(
        tuple(devices), dict(zip(devices, range(len(devices)), strict=True)), snap_names,
        list(runs.names), present, np.zeros(0, np.int64), np.zeros(0, np.int64), [],
        np.zeros(0, np.int64), kept.devices, np.asarray(at, np.int64).reshape(len(at)),
    )  # fmt: skip
    index = out.index
    snap_codes = np.concatenate([out.moved(kept.snap_codes), codes_of(snap_names[ns:], index)])
    run_codes = np.full(len(runs.names), -1, np.int64)
    run_codes[:nr] = out.moved(kept.run_codes)
    run_codes[gained] = codes_of([runs.names[i] for i in gained.tolist()], index)
    n = len(kept.use_names)
    if len(use_names) >= n and list(use_names[:n]) == kept.use_names:
        use_codes = np.concatenate([out.moved(kept.use_codes), codes_of(use_names[n:], index)])
    else:
        use_codes = codes_of(use_names, index)
    return DeviceCodes(
        out.devices, index, snap_names, out.run_names, present, snap_codes, run_codes,
        list(use_names), use_codes, kept.devices, out.inserted,
    )  # fmt: skip
