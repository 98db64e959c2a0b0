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

from collector.analytics.state import Bools, Ints, T

_SHIFT = 32  # a pair's key: member << 32 | feature code (feature codes stay below 2**31)
_MASK = (1 << _SHIFT) - 1
REBUILD_ABOVE = 50_000  # new rows in one refresh above which the pairs are rebuilt


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


class FeaturePairs:
    def __init__(self, f_member: Ints, f_feat: Ints) -> None:
        """Pairs of the rows with f_member >= 0 (f_member: member of each feature row)."""
        self.n_rows = len(f_member)
        self.version = 0  # bumped whenever rows are appended (pes_pairs keys on it)
        rows = np.flatnonzero(f_member >= 0)
        keys, owner = np.unique(f_member[rows] << _SHIFT | f_feat[rows], return_inverse=True)
        self.keys = keys  # sorted
        self.ids = np.arange(len(keys), dtype=np.int64)  # pair id of each sorted key
        self.member, self.feat = keys >> _SHIFT, keys & _MASK  # per pair id
        self.count = np.bincount(owner, minlength=len(keys)).astype(np.int64)
        self.levels = [(own, rows[at]) for own, at in levels_of(owner.astype(np.int64))]

    def __len__(self) -> int:
        return len(self.member)

    def hit(self, row_hit: Bools) -> Bools:
        """Per pair: some of its feature rows has row_hit."""
        out = row_hit[self.levels[0][1]]
        for own, rows in self.levels[1:]:
            out[own] |= row_hit[rows]
        return out

    def sublevels(self, pairs: Ints) -> list[tuple[Ints, Ints]]:
        """The merge plan of the pairs `pairs` alone, owners numbered by position in it."""
        # Level 0's owners are 0..n-1 by construction; reduce_levels never reads them.
        out = [(np.zeros(0, np.int64), self.levels[0][1][pairs])]
        if len(self.levels) == 1:  # one row per pair (every member has one combination)
            return out
        at = np.full(len(self), -1, np.int64)
        at[pairs] = np.arange(len(pairs))
        for own, rows in self.levels[1:]:
            sel = np.flatnonzero(at[own] >= 0)
            out.append((at[own[sel]], rows[sel]))
        return out

    def extend(self, f_member: Ints, f_feat: Ints) -> bool:
        """Take in the feature rows appended since (f_member, f_feat cover all rows). False
        when there are too many to append (the caller rebuilds)."""
        start = self.n_rows
        rows = start + np.flatnonzero(f_member[start:] >= 0)
        if len(rows) > REBUILD_ABOVE:
            return False
        self.n_rows = len(f_member)
        if not len(rows):
            return True
        self.version += 1
        keys = f_member[rows] << _SHIFT | f_feat[rows]
        pos = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        found = self.keys[pos] == keys if len(self.keys) else np.zeros(len(keys), np.bool_)
        pid = np.where(found, self.ids[pos] if len(self.keys) else 0, -1)
        if not found.all():
            fresh, inverse = np.unique(keys[~found], return_inverse=True)
            number = len(self.member) + np.arange(len(fresh))
            pid[~found] = number[inverse]
            at = np.searchsorted(self.keys, fresh)
            self.keys, self.ids = np.insert(self.keys, at, fresh), np.insert(self.ids, at, number)
            self.member = np.concatenate([self.member, fresh >> _SHIFT])
            self.feat = np.concatenate([self.feat, fresh & _MASK])
            self.count = np.concatenate([self.count, np.zeros(len(fresh), np.int64)])
        # Rank of each new row in its pair: rows the pair had, then order among the new ones.
        order = np.argsort(pid, kind="stable")
        by_pid = pid[order]
        rank = np.empty(len(pid), np.int64)
        rank[order] = self.count[by_pid] + np.arange(len(pid)) - np.searchsorted(by_pid, by_pid)
        np.add.at(self.count, pid, 1)
        for k in np.unique(rank).tolist():
            sel = np.flatnonzero(rank == k)
            sel = sel[np.argsort(pid[sel], kind="stable")]  # level 0 stays in pair-id order
            if k == len(self.levels):
                self.levels.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
            own, lrows = self.levels[k]
            self.levels[k] = (np.concatenate([own, pid[sel]]), np.concatenate([lrows, rows[sel]]))
        return True
