"""The release engine's `Fleet` from the store's kept sources: built whole (`build_fleet`), or a
kept Fleet brought up to date for the devices that changed since it was built (`update_fleet`).

A Fleet's rows are each about one device (its runs, its (type, firmware) and (type, feature)
day bits, its use counts per day), ordered by device code, so a write changes only the rows of
the devices it stored events for. `update_fleet` keeps every other device's rows, reads the
changed devices' rows from the current sources exactly as `build_fleet` does, and inserts them
where a build would put them: the result equals `build_fleet` on the same sources, array for
array (tested: reports/test_releases_update.py). It declines (returns None, the caller builds)
where codes other than the devices' would move: a device type, firmware or feature whose code
is not the one it had (a new name that does not come after the kept ones), or a device gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from collector.analytics.releases_fleet import Fleet
from collector.analytics.state import Snapshot
from collector.reports.devices import DeviceCodes, codes_of, device_codes
from collector.storage.bitmaps import BLOCK_DAYS
from collector.storage.packed import PackedUses
from collector.storage.runcache import RunColumns
from collector.storage.runs import Run
from collector.storage.usecache import UseColumns

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Words = npt.NDArray[np.uint64]


def _unpack(words: Words, cols: slice) -> Bools:
    """(rows, blocks) 64-day words -> the days `cols` of (rows, blocks * 64) (bit k of word b =
    day 64b + k); only the bytes holding those days are unpacked."""
    start, stop = int(cols.start), int(cols.stop)
    b0, b1 = start // 8, -(-stop // 8)
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    wanted = as_bytes.reshape(words.shape[0], words.shape[1] * 8)[:, b0:b1]
    bits = np.unpackbits(wanted, axis=1, bitorder="little")
    out: Bools = bits[:, start - 8 * b0 : stop - 8 * b0].astype(np.bool_)
    return out


def _codes(vocab: Sequence[str], index: dict[str, int]) -> Ints:
    """The codes in `index` of `vocab` (-1 for a name it lacks: a run's type or firmware no
    longer in any run, never looked up)."""
    return np.asarray([index.get(v, -1) for v in vocab], np.int64).reshape(len(vocab))


def _merge(keys: Ints, words: Words, cols: slice) -> tuple[Ints, Bools]:
    """The distinct keys (ascending) of the rows with a bit set and, per key, its rows' days
    ORed (of the columns `cols`): ORed as 64-day words (a reduce over rows sorted by key), then
    unpacked, 64 times less to OR. One sort: the keys' own, its runs are the groups."""
    rows = np.flatnonzero(words.any(axis=1))
    order = rows[np.argsort(keys[rows])]  # any order within a key: OR does not mind
    k = keys[order]
    if not len(k):
        return k, _unpack(words[:0], cols)
    start = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    return k[start], _unpack(np.bitwise_or.reduceat(words[order], start, axis=0), cols)


def _names(first: Sequence[str], pool: Sequence[str], codes: Ints) -> tuple[str, ...]:
    """`first`, then the names of pool that `codes` use and `first` lacks, in code order (a
    bincount: the same codes as np.unique, without its sort of every run)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(pool))) if len(codes) else codes
    return tuple(dict.fromkeys([*first, *(pool[i] for i in used.tolist())]))


def _blocks(src: Words, block0: int, rows: Ints, lo: int, hi: int) -> tuple[Words, int]:
    """The 64-day words of `rows` of `src` (column 0 = block `block0`) over the blocks of days
    [lo, hi] (zeros outside src), and the ordinal of the first column's day."""
    lo_b, hi_b = lo // BLOCK_DAYS, hi // BLOCK_DAYS
    out = np.zeros((len(rows), hi_b - lo_b + 1), np.uint64)
    a, b = max(lo_b, block0), min(hi_b, block0 + src.shape[1] - 1)
    if a <= b and len(rows):
        out[:, a - lo_b : b - lo_b + 1] = src[rows, a - block0 : b - block0 + 1]
    return out, lo_b * BLOCK_DAYS


class _Rows:
    """A Fleet's day-bit rows of some combinations, for days [lo, hi]: `_merge` per key
    (device, type, firmware) or (device, type, feature)."""

    def __init__(
        self, snapshot: Snapshot, codes: DeviceCodes, types: dict[str, int], fws: dict[str, int]
    ) -> None:
        self.snap = snapshot
        self.dev = codes.snap_codes[snapshot.codes["device_id"]]
        self.typ = _codes(snapshot.vocab["device_type"], types)[snapshot.codes["device_type"]]
        self.fw = _codes(snapshot.vocab["firmware_version"], fws)[
            snapshot.codes["firmware_version"]
        ]

    def act(self, rows: Ints, lo: int, hi: int, nt: int, nf: int) -> tuple[Ints, Bools]:
        words, day0 = _blocks(self.snap.act, self.snap.block0, rows, lo, hi)
        keys = (self.dev[rows] * nt + self.typ[rows]) * nf + self.fw[rows]
        return _merge(keys, words, slice(lo - day0, hi - day0 + 1))

    def use(self, rows: Ints, lo: int, hi: int, nt: int, nfeat: int) -> tuple[Ints, Bools]:
        s = self.snap
        words, day0 = _blocks(s.f_words, s.block0, rows, lo, hi)
        combo = s.f_combo[rows]
        keys = (self.dev[combo] * nt + self.typ[combo]) * nfeat + s.f_feat[rows]
        return _merge(keys, words, slice(lo - day0, hi - day0 + 1))


def _vocabs(
    snapshot: Snapshot, runs: RunColumns
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    types = _names(snapshot.vocab["device_type"], runs.types, runs.type)
    fws = _names(snapshot.vocab["firmware_version"], runs.firmwares, runs.firmware)
    return types, fws, tuple(snapshot.features)


def build_fleet(
    snapshot: Snapshot,
    runs: RunColumns | Mapping[str, Sequence[Run]],
    uses: UseColumns | None,
    lo: int,
    hi: int,
    codes: DeviceCodes | None = None,
) -> Fleet:
    """The Fleet for days [lo, hi] (ordinals); no uses: all 0
    (the rollout does not read them). Vectorised over runs: Python steps are per name, and none
    with `codes` (reports/devices.py) made for these snapshot, runs and uses."""
    runs = runs if isinstance(runs, RunColumns) else RunColumns.of_runs(runs)
    if codes is None:
        codes = device_codes(
            None, snapshot.vocab["device_id"], runs, [] if uses is None else uses.names
        )
    types, fws, features = _vocabs(snapshot, runs)
    tix, fix = {t: i for i, t in enumerate(types)}, {f: i for i, f in enumerate(fws)}
    nt, nf, nfeat = max(len(types), 1), max(len(fws), 1), max(len(features), 1)
    # Run rows by device (a stable sort keeps each device's rows in event order).
    r_dev = codes.run_codes[runs.device]
    order = np.argsort(r_dev, kind="stable")
    run_cols = _run_rows(runs, order, r_dev, tix, fix)
    src = _Rows(snapshot, codes, tix, fix)
    akeys, act_days = src.act(np.arange(len(src.dev)), lo, hi, nt, nf)
    fkeys, use_days = src.use(np.arange(len(snapshot.f_combo)), lo, hi, nt, nfeat)
    n_days = hi - lo + 1
    counts = np.zeros((len(codes.devices), n_days), np.int32)  # a day's uses fit; half the bytes
    if uses is not None and len(uses.device):
        u_dev, u_col = codes.use_codes[uses.device], uses.day - lo
        ok = (u_dev >= 0) & (u_col >= 0) & (u_col < n_days)
        counts[u_dev[ok], u_col[ok]] = uses.uses[ok]  # one row per (device, day)
    return _fleet(lo, n_days, codes.devices, (types, fws, features), run_cols,
                  (akeys, act_days), (fkeys, use_days), counts)  # fmt: skip


def _run_rows(
    runs: RunColumns, order: Ints, r_dev: Ints, tix: dict[str, int], fix: dict[str, int]
) -> list[Ints]:
    """The Fleet's run columns (device, type, firmware, first day, last day) of runs `order`."""
    return [r_dev[order], _codes(runs.types, tix)[runs.type[order]],
            _codes(runs.firmwares, fix)[runs.firmware[order]], runs.first_day[order],
            runs.last_day[order]]  # fmt: skip


def _fleet(
    lo: int,
    n_days: int,
    devices: tuple[str, ...],
    vocabs: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
    run_cols: Sequence[Ints],
    act: tuple[Ints, Bools],
    use: tuple[Ints, Bools],
    counts: npt.NDArray[np.int32],
) -> Fleet:
    types, fws, features = vocabs
    nt, nf, nfeat = max(len(types), 1), max(len(fws), 1), max(len(features), 1)
    (akeys, act_days), (fkeys, use_days) = act, use
    return Fleet(
        day0=lo, n_days=n_days, devices=devices, types=types, firmwares=fws, features=features,
        run_device=run_cols[0], run_type=run_cols[1], run_firmware=run_cols[2],
        run_first_day=run_cols[3], run_last_day=run_cols[4],
        act_device=akeys // (nt * nf), act_type=akeys // nf % nt, act_firmware=akeys % nf,
        act_days=act_days,
        use_device=fkeys // (nt * nfeat), use_type=fkeys // nfeat % nt,
        use_feature=fkeys % nfeat, use_days=use_days, uses=counts,
    )  # fmt: skip


def update_fleet(
    old: Fleet,
    snapshot: Snapshot,
    runs: RunColumns,
    codes: DeviceCodes,
    changed: Sequence[str],
    uses: PackedUses | None,
    in_place: bool = False,
) -> Updated | None:
    """`old` (same days) with the rows of the devices `changed` and of every device new to it
    taken from these sources, i.e. `build_fleet(snapshot, runs, <uses>, ...)` when every other
    device's rows are as they were at old's build; `uses`: the counts of exactly those devices
    over old's days (None: a Fleet without counts). None where it cannot: see the module.
    in_place: old's arrays may be written (no one reads old any more): its counts and, where
    the changed devices keep their rows' keys, its day bits are, instead of being copied."""
    lo, n_days = old.day0, old.n_days
    hi = lo + n_days - 1
    types, fws, features = _vocabs(snapshot, runs)
    vocabs = ((types, old.types), (fws, old.firmwares), (features, old.features))
    if any(new[: len(was)] != was for new, was in vocabs):
        return None
    n_dev = len(codes.devices)
    remap = np.arange(n_dev, dtype=np.int64)
    grown = len(codes.inserted) > 0 and codes.grown_from is old.devices  # places known
    if grown:
        remap = codes.moved(np.arange(len(old.devices), dtype=np.int64))
    elif codes.devices != old.devices:  # devices came: every kept row's device code moves
        remap = codes_of(old.devices, codes.index)
        if len(remap) and remap.min() < 0:
            return None
    aff = np.ones(n_dev, np.bool_)
    aff[remap] = False  # new devices
    if uses is not None and not {codes.devices[i] for i in np.flatnonzero(aff)} <= {*changed}:
        return None  # a new device without a counter (not stored by Store.write): counts unread
    at = codes_of(changed, codes.index)
    aff[at[at >= 0]] = True
    tix, fix = {t: i for i, t in enumerate(types)}, {f: i for i, f in enumerate(fws)}
    nt, nf, nfeat = max(len(types), 1), max(len(fws), 1), max(len(features), 1)

    r_dev = codes.run_codes[runs.device]
    mine = np.flatnonzero(aff[r_dev] & (r_dev >= 0))
    order = mine[np.argsort(r_dev[mine], kind="stable")]
    fresh = _run_rows(runs, order, r_dev, tix, fix)
    kept_dev = remap[old.run_device]
    keep = ~aff[kept_dev]
    at_runs = np.searchsorted(kept_dev[keep], fresh[0])
    olds = (kept_dev, old.run_type, old.run_firmware, old.run_first_day, old.run_last_day)
    run_cols = [np.insert(a[keep], at_runs, b) for a, b in zip(olds, fresh, strict=True)]

    src = _Rows(snapshot, codes, tix, fix)
    in_place &= len(remap) == n_dev and old.uses.dtype == np.int32  # no device came
    act = _splice(
        src.act(np.flatnonzero(aff[src.dev]), lo, hi, nt, nf),
        (remap[old.act_device] * nt + old.act_type) * nf + old.act_firmware,
        old.act_days, aff, nt * nf, in_place,
    )  # fmt: skip
    use = _splice(
        src.use(np.flatnonzero(aff[src.dev[snapshot.f_combo]]), lo, hi, nt, nfeat),
        (remap[old.use_device] * nt + old.use_type) * nfeat + old.use_feature,
        old.use_days, aff, nt * nfeat, in_place,
    )  # fmt: skip
    if in_place:
        counts = old.uses
    elif len(remap) == n_dev:  # a copy: requests may still read old's
        counts = old.uses.astype(np.int32)
    elif grown:  # a row of zeros per new device (a copy of the others' rows, not a gather)
        counts = np.insert(old.uses.astype(np.int32, copy=False), codes.inserted, 0, axis=0)
    else:
        counts = np.zeros((n_dev, n_days), np.int32)
        counts[remap] = old.uses
    counts[aff] = 0
    if uses is not None and len(uses.day):
        u_dev = np.repeat(codes_of(uses.names, codes.index), uses.counts)
        u_col = uses.day - lo
        ok = (u_dev >= 0) & aff[np.maximum(u_dev, 0)] & (u_col >= 0) & (u_col < n_days)
        counts[u_dev[ok], u_col[ok]] = uses.uses[ok]
    fleet = _fleet(lo, n_days, codes.devices, (types, fws, features), run_cols, act, use, counts)
    return Updated(fleet, np.flatnonzero(aff), remap)


class Updated(NamedTuple):
    """An updated Fleet, the codes of the devices whose rows were taken again (ascending), and
    the code now of each device code of the Fleet before."""

    fleet: Fleet
    affected: Ints
    remap: Ints


def _splice(
    fresh: tuple[Ints, Bools],
    old_keys: Ints,
    old_days: Bools,
    aff: Bools,
    per_device: int,
    in_place: bool,
) -> tuple[Ints, Bools]:
    """Old rows (keys ascending, in the new codes) but those of affected devices, with the
    fresh rows (keys ascending) inserted where a sorted build puts them. The kept rows are
    copied as runs of consecutive rows (slices: memory speed), not gathered row by row; or,
    in_place and the affected devices' keys unchanged, old_days's rows are overwritten."""
    f_keys, f_days = fresh
    mine = aff[old_keys // per_device]
    if in_place:
        rows = np.flatnonzero(mine)
        if len(rows) == len(f_keys) and np.array_equal(old_keys[rows], f_keys):
            old_days[rows] = f_days
            return old_keys, old_days
    kept = np.flatnonzero(~mine)  # old rows kept
    at = np.searchsorted(old_keys[kept], f_keys)  # fresh row j goes before kept row at[j]
    out = np.empty((len(kept) + len(f_keys), old_days.shape[1]), np.bool_)
    out[at + np.arange(len(at))] = f_days
    if len(kept):
        pos = np.arange(len(kept)) + np.searchsorted(at, np.arange(len(kept)), "right")
        breaks = (np.diff(kept) != 1) | (np.diff(pos) != 1)
        starts = np.flatnonzero(np.concatenate([[True], breaks]))
        if len(starts) > _MAX_RUNS:  # many changed devices: a gather is as quick
            out[pos] = old_days[kept]
        else:
            ends = np.append(starts[1:], len(kept))
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                out[pos[s] : pos[s] + e - s] = old_days[kept[s] : kept[s] + e - s]
    return np.insert(old_keys[kept], at, f_keys), out


_MAX_RUNS = 4096
