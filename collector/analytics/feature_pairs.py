"""The distinct (member, feature) pairs of a grouping's feature rows, kept up to date as the
analytics state appends feature rows.

A member with several combinations (a device across a firmware upgrade, an account) uses a
feature once however many of its combinations used it: adoption counts the pairs. The pairs and
the rows of each are kept with a merge plan (levels_of), so "which pairs were used in
P" is one mask operation over the feature rows and a gather, not a sort per request. New
feature rows (a device's first use of a feature) are appended to the plan: a refresh that
brings a few of them costs a few small array operations, not a rebuild.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from collector.analytics.arrays import Bools, Ints, T

_SHIFT = 32  # a pair's key: member << 32 | feature code (feature codes stay below 2**31)
_MASK = (1 << _SHIFT) - 1
REBUILD_ABOVE = 50_000  # new rows in one refresh (or pairs since the build) forcing a rebuild


def levels_of(owner: Ints) -> list[tuple[Ints, Ints]]:
    """A merge plan for rows with owners 0..k-1 (each owning a row): per rank r, the owners
    with an r-th row and that row. Level 0 holds every owner once, in order, so merging is one
    gather and a few small updates instead of a ufunc.at over every row."""
    order = np.argsort(owner, kind="stable")
    by_owner = owner[order]
    rank = np.arange(len(order)) - np.searchsorted(by_owner, by_owner)
    levels = []
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        at = rank == k
        levels.append((by_owner[at], order[at]))
    return levels or [(np.zeros(0, np.int64), np.zeros(0, np.int64))]


def reduce_levels(
    levels: list[tuple[Ints, Ints]], values: npt.NDArray[T], op: np.ufunc
) -> npt.NDArray[T]:
    out = values[levels[0][1]]
    for own, rows in levels[1:]:
        out[own] = op(out[own], values[rows])
    return out


class Grown:
    """An int64 array appended to in place, its buffer doubled when full (amortised O(new))."""

    def __init__(self, values: Ints, spare: float = 0.0) -> None:
        """`spare`: room kept for appends, as a fraction of the values (no copy on the first
        few appends to a large array)."""
        self.buf = np.empty(len(values) + int(spare * len(values)), np.int64)
        self.buf[: len(values)] = values
        self.n = len(values)

    @property
    def a(self) -> Ints:
        return self.buf[: self.n]

    def append(self, values: Ints) -> None:
        end = self.n + len(values)
        if end > len(self.buf):
            grown = np.empty(max(2 * len(self.buf), end, 16), np.int64)
            grown[: self.n] = self.a
            self.buf = grown
        self.buf[self.n : end] = values
        self.n = end


class FeaturePairs:
    def __init__(self, f_member: Ints, f_feat: Ints) -> None:
        """Pairs of the rows with f_member >= 0 (f_member: member of each feature row)."""
        self.n_rows = len(f_member)
        self.version = 0  # bumped whenever rows are appended (pes_pairs keys on it)
        self.layout = 0  # bumped whenever members are renumbered (pes_pairs keys on it)
        rows = np.flatnonzero(f_member >= 0)
        keys, owner = np.unique(f_member[rows] << _SHIFT | f_feat[rows], return_inverse=True)
        self.keys = keys  # sorted, at the last build; pair id = position
        self.extra: dict[int, int] = {}  # key -> pair id of the pairs appended since
        spare = 1 / 16
        self._member, self._feat = Grown(keys >> _SHIFT, spare), Grown(keys & _MASK, spare)
        self._count = Grown(np.bincount(owner, minlength=len(keys)), spare)
        # Level 0's owners are 0..n-1 (every pair, in id order): not stored.
        self._levels = [
            (Grown(own if k else own[:0], spare), Grown(rows[at], spare))
            for k, (own, at) in enumerate(levels_of(owner.astype(np.int64)))
        ]

    def __len__(self) -> int:
        return self._member.n

    @property
    def member(self) -> Ints:
        """Member of each pair (by pair id)."""
        return self._member.a

    @property
    def feat(self) -> Ints:
        """Feature code of each pair."""
        return self._feat.a

    @property
    def levels(self) -> list[tuple[Ints, Ints]]:
        """The merge plan: per rank k, the pairs with a k-th row and that row (level 0: every
        pair, its owners left implicit)."""
        return [(own.a, rows.a) for own, rows in self._levels]

    def hit(self, row_hit: Bools) -> Bools:
        """Per pair: some of its feature rows has row_hit."""
        return reduce_levels(self.levels, row_hit, np.logical_or)

    def first_rows(self, pairs: Ints) -> Ints:
        """The first feature row of each pair of `pairs`."""
        return self._levels[0][1].a[pairs]

    def higher_levels(self, pairs: Ints) -> list[tuple[Ints, Ints]]:
        """The merge plan of the pairs `pairs` alone without level 0 (their first rows), owners
        numbered by position in `pairs`."""
        levels = self.levels
        out: list[tuple[Ints, Ints]] = []
        if len(levels) == 1:  # one row per pair (every member has one combination)
            return out
        at = np.full(len(self), -1, np.int64)
        at[pairs] = np.arange(len(pairs))
        for own, rows in levels[1:]:
            sel = np.flatnonzero(at[own] >= 0)
            out.append((at[own[sel]], rows[sel]))
        return out

    def renumber(self, remap: Ints | None) -> None:
        """Member m is member remap[m] now (remap increasing: members were inserted; None: the
        members are the same, but what users derived from them, their types, changed). Pair
        ids, the key order and the merge plan stay as they are."""
        self.layout += 1
        if remap is None:
            return
        keys = self.keys
        self.keys = remap[keys >> _SHIFT] << _SHIFT | keys & _MASK
        self.extra = {int(remap[k >> _SHIFT]) << _SHIFT | k & _MASK: pid
                      for k, pid in self.extra.items()}  # fmt: skip
        member = self._member.a
        member[:] = remap[member]

    def _ids(self, keys: Ints) -> Ints:
        """Pair id of each key, -1 for keys not seen."""
        known = self.keys
        pos = np.minimum(np.searchsorted(known, keys), max(len(known) - 1, 0))
        found = known[pos] == keys if len(known) else np.zeros(len(keys), np.bool_)
        pid = np.where(found, pos, -1)
        if self.extra:
            for i in np.flatnonzero(~found).tolist():
                pid[i] = self.extra.get(int(keys[i]), -1)
        return pid

    def extend(self, f_member: Ints, f_feat: Ints) -> bool:
        """Take in the feature rows appended since (f_member, f_feat cover all rows). False
        when there are too many to append (the caller rebuilds)."""
        start = self.n_rows
        rows = start + np.flatnonzero(f_member[start:] >= 0)
        if len(rows) > REBUILD_ABOVE or len(self.extra) > REBUILD_ABOVE:
            return False
        self.n_rows = len(f_member)
        if not len(rows):
            return True
        self.version += 1
        keys = f_member[rows] << _SHIFT | f_feat[rows]
        pid = self._ids(keys)
        new = pid < 0
        if new.any():
            fresh, inverse = np.unique(keys[new], return_inverse=True)
            number = len(self) + np.arange(len(fresh))
            pid[new] = number[inverse]
            self.extra.update(zip(fresh.tolist(), number.tolist(), strict=True))
            self._member.append(fresh >> _SHIFT)
            self._feat.append(fresh & _MASK)
            self._count.append(np.zeros(len(fresh), np.int64))
        # Rank of each new row in its pair: rows the pair had, then order among the new ones.
        count = self._count.a
        order = np.argsort(pid, kind="stable")
        by_pid = pid[order]
        rank = np.empty(len(pid), np.int64)
        rank[order] = count[by_pid] + np.arange(len(pid)) - np.searchsorted(by_pid, by_pid)
        np.add.at(count, pid, 1)
        for k in np.unique(rank).tolist():
            sel = np.flatnonzero(rank == k)
            sel = sel[np.argsort(pid[sel], kind="stable")]  # level 0 stays in pair-id order
            if k == len(self._levels):
                self._levels.append((Grown(np.zeros(0, np.int64)), Grown(np.zeros(0, np.int64))))
            own, lrows = self._levels[k]
            if k:
                own.append(pid[sel])
            lrows.append(rows[sel])
        return True
