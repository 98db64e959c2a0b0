"""The members of one (group_by, entity, filters) over a snapshot's combinations, with the merge
plan of each member's combinations, and how combinations appended by later snapshots are taken
in without building it again.

Segments are kept in the lexicographic order of their attributes' codes, members by (segment,
entity code). Codes only grow (a vocabulary is appended to, never reordered), so that order is
the same whatever snapshot it is built from: `extend` inserts the new segments and members
where a build over the new snapshot would put them, and reports where the old ones moved
(`Growth`), so that what is kept per member or per segment can follow by an insert and a
gather instead of a rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collector.analytics.feature_pairs import levels_of, reduce_levels
from collector.analytics.params import Segment
from collector.analytics.state import Cube, Ints, Snapshot, T

SHIFT = 32  # a member's key: segment << SHIFT | entity code (codes stay below 2**31)
_MASK = (1 << SHIFT) - 1


@dataclass(frozen=True, slots=True)
class Grouping:
    """Members of the snapshot's combinations (after filters), sorted by segment then entity."""

    segments: list[Segment]  # in the codes' lexicographic order (not display order)
    seg_codes: Ints  # (segments, len(group_by)): each segment's attribute codes
    seg: Ints  # per member
    starts: Ints  # first member of each segment
    entity_codes: Ints  # per member
    combo_member: Ints  # per combination of the snapshot: its member, -1 when filtered out
    levels: list[tuple[Ints, Ints]]  # (members, their k-th combination) for k = 0, 1, ...
    mtype: Ints  # per member: the device type code of all its combinations, -1 when several
    mixed_rows: Ints  # the combinations of the members with several device types

    def reduce(self, values: npt.NDArray[T], op: np.ufunc) -> npt.NDArray[T]:
        """Per member: op (bitwise_or, minimum) over its combinations' rows of `values`."""
        return reduce_levels(self.levels, values, op)


@dataclass(frozen=True, slots=True)
class Growth:
    """Where `extend` moved the old members and segments."""

    remap: Ints  # old member m is member remap[m]
    seg_at: Ints  # the new segments were inserted before these old segments (np.insert)
    added: int  # members added
    retyped: bool  # some old member with one device type has several now


def _probe(snap: Snapshot, lo: int) -> Cube:
    """The snapshot's combinations from row `lo` on, for their attributes only."""
    return Cube(0, 0, {a: c[lo:] for a, c in snap.codes.items()}, snap.vocab,
                snap.act[lo:, :0], snap.first[lo:], snap.f_combo[:0], snap.f_feat[:0],
                snap.f_words[:0, :0], snap.features)  # fmt: skip


def _codes(probe: Cube, group_by: Sequence[str], rows: Ints) -> tuple[Ints, list[list[str | None]]]:
    """(rows, attributes) codes of the probe's rows, and the value of each code per attribute."""
    out = np.zeros((len(rows), len(group_by)), np.int64)
    values: list[list[str | None]] = []
    for k, name in enumerate(group_by):
        codes, vals = probe.attr(name)
        out[:, k] = codes[rows]
        values.append(vals)
    return out, values


def _radix(codes: Ints, values: list[list[str | None]]) -> Ints:
    """One int64 per row of codes, in the rows' lexicographic order (mixed radix)."""
    key = np.zeros(len(codes), np.int64)
    for k, vals in enumerate(values):
        key = key * max(len(vals), 1) + codes[:, k]
    return key


def _segment(values: list[list[str | None]], codes: list[int]) -> Segment:
    return tuple(vals[c] for vals, c in zip(values, codes, strict=True))


def _mixed_rows(combo_member: Ints, mtype: Ints) -> Ints:
    member = np.maximum(combo_member, 0)
    return np.flatnonzero((combo_member >= 0) & (mtype[member] < 0)) if len(mtype) else member[:0]


def grouping(snap: Snapshot, group_by: Sequence[str], entity: str, filters: Mapping[str, str]
             ) -> Grouping:  # fmt: skip
    """Like cube.members, on the snapshot's combinations, with the merge plan of each member."""
    probe = _probe(snap, 0)
    n = len(snap.first)
    rows = np.flatnonzero(probe.matches(sorted(filters.items()))) if filters else np.arange(n)
    codes, values = _codes(probe, group_by, rows)
    _, at, seg_of_row = np.unique(_radix(codes, values), return_index=True, return_inverse=True)
    seg_codes = codes[at]
    attr = "device_id" if entity == "device" else "account_id"
    pair = seg_of_row.astype(np.int64) << SHIFT | snap.codes[attr][rows]
    pairs, member_of_row = np.unique(pair, return_inverse=True)
    combo_member = np.full(n, -1, np.int64)
    combo_member[rows] = member_of_row
    levels = [(own, rows[at]) for own, at in levels_of(member_of_row.astype(np.int64))]
    types = snap.codes["device_type"]
    lo = reduce_levels(levels, types, np.minimum)
    hi = reduce_levels(levels, types, np.maximum)
    mtype = np.where(lo == hi, lo, -1)
    seg = pairs >> SHIFT
    return Grouping(
        segments=[_segment(values, c) for c in seg_codes.tolist()],
        seg_codes=seg_codes,
        seg=seg,
        starts=np.searchsorted(seg, np.arange(len(seg_codes))).astype(np.int64),
        entity_codes=pairs & _MASK,
        combo_member=combo_member,
        levels=levels,
        mtype=mtype,
        mixed_rows=_mixed_rows(combo_member, mtype),
    )


def _inserted(old: Ints, at: Ints) -> Ints:
    """Where each old item is after inserting items before the positions `at` (sorted)."""
    return np.arange(len(old)) + np.searchsorted(at, np.arange(len(old)), side="right")


def extend(group: Grouping, snap: Snapshot, n_old: int, group_by: Sequence[str], entity: str,
           filters: Mapping[str, str]) -> tuple[Grouping, Growth]:  # fmt: skip
    """`group` (built over the first n_old combinations) with the snapshot's later combinations
    taken in: new members and segments inserted where `grouping` would put them, combinations
    of existing members added to their merge plans. Equal to grouping(snap, ...) but for the
    order of the pairs within the plan's higher levels, which no reduction depends on."""
    n = len(snap.first)
    probe = _probe(snap, n_old)
    new = (
        np.flatnonzero(probe.matches(sorted(filters.items()))) if filters else np.arange(n - n_old)
    )
    rows = n_old + new
    codes, values = _codes(probe, group_by, new)
    # Segments: the new ones inserted in key order (keys taken with today's vocabularies).
    old_keys = _radix(group.seg_codes, values)
    row_keys = _radix(codes, values)
    keys, first = np.unique(row_keys, return_index=True)
    fresh = ~np.isin(keys, old_keys)
    seg_at = np.searchsorted(old_keys, keys[fresh])
    all_keys = np.insert(old_keys, seg_at, keys[fresh])
    seg_codes = np.insert(group.seg_codes, seg_at, codes[first[fresh]], axis=0)
    segments = list(group.segments)
    for pos, c in zip((seg_at + np.arange(len(seg_at))).tolist(), codes[first[fresh]].tolist(),
                      strict=True):  # fmt: skip
        segments.insert(pos, _segment(values, c))
    seg_remap = _inserted(old_keys, seg_at)
    # Members: a row joins the member of its (segment, entity) key, or a new one.
    attr = "device_id" if entity == "device" else "account_id"
    old_mkeys = seg_remap[group.seg] << SHIFT | group.entity_codes
    mkeys = np.searchsorted(all_keys, row_keys) << SHIFT | snap.codes[attr][rows]
    pos = np.minimum(np.searchsorted(old_mkeys, mkeys), max(len(old_mkeys) - 1, 0))
    found = old_mkeys[pos] == mkeys if len(old_mkeys) else np.zeros(len(mkeys), np.bool_)
    fresh_m = np.unique(mkeys[~found])
    at = np.searchsorted(old_mkeys, fresh_m)
    remap = _inserted(old_mkeys, at)
    fresh_ids = at + np.arange(len(at))
    pick = np.minimum(np.searchsorted(fresh_m, mkeys), max(len(fresh_m) - 1, 0))
    member_of_row = np.where(found, remap[pos] if len(remap) else 0,
                             fresh_ids[pick] if len(fresh_ids) else 0)  # fmt: skip
    all_mkeys = np.insert(old_mkeys, at, fresh_m)
    n_mem = len(all_mkeys)
    combo_member = np.full(n, -1, np.int64)
    old_cm = group.combo_member
    if len(remap):
        combo_member[:n_old] = np.where(old_cm >= 0, remap[np.maximum(old_cm, 0)], -1)
    combo_member[rows] = member_of_row
    # Merge plan: each new row's rank among its member's combinations (after the old ones).
    # An old member's combinations: one per level it is in (level 0 holds every member, the
    # higher ones only members with several combinations: far fewer than the members).
    had = found.astype(np.int64)
    for own, _ in group.levels[1:]:
        mark = np.zeros(len(old_mkeys), np.bool_)
        mark[own] = True
        had += found & mark[pos]
    order = np.argsort(member_of_row, kind="stable")
    by = member_of_row[order]
    rank = np.empty(len(rows), np.int64)
    rank[order] = had[order] + np.arange(len(by)) - np.searchsorted(by, by)
    zero = np.flatnonzero(rank == 0)  # the new members' first rows, by member id
    zero = zero[np.argsort(member_of_row[zero], kind="stable")]
    levels = [(np.arange(n_mem), np.insert(group.levels[0][1], at, rows[zero]))]
    for k in range(1, max(len(group.levels), int(rank.max()) + 1 if len(rank) else 0)):
        own, lrows = group.levels[k] if k < len(group.levels) else (remap[:0], remap[:0])
        sel = np.flatnonzero(rank == k)
        levels.append((np.concatenate([remap[own], member_of_row[sel]]),
                       np.concatenate([lrows, rows[sel]])))  # fmt: skip
    # Device types: a member keeps its single type while its new rows have it too.
    mtype = np.full(n_mem, -1, np.int64)
    mtype[remap] = group.mtype
    types = snap.codes["device_type"][rows]
    lo = np.full(n_mem, np.iinfo(np.int64).max, np.int64)
    hi = np.full(n_mem, -1, np.int64)
    np.minimum.at(lo, member_of_row, types)
    np.maximum.at(hi, member_of_row, types)
    touched = np.unique(member_of_row)
    is_new = np.zeros(n_mem, np.bool_)
    is_new[fresh_ids] = True
    prev = np.where(is_new[touched], lo[touched], mtype[touched])
    mtype[touched] = np.where((lo[touched] == hi[touched]) & (lo[touched] == prev), prev, -1)
    retyped = bool(len(remap)) and bool((mtype[remap] != group.mtype).any())
    # Old members with several types keep them: unless one became so, the old mixed rows stay
    # and the new rows of such members follow (rows after every old one: still sorted).
    mixed_rows = (
        _mixed_rows(combo_member, mtype)
        if retyped
        else np.concatenate([group.mixed_rows, rows[mtype[member_of_row] < 0]])
    )
    seg = all_mkeys >> SHIFT
    return Grouping(
        segments=segments,
        seg_codes=seg_codes,
        seg=seg,
        starts=np.searchsorted(seg, np.arange(len(segments))).astype(np.int64),
        entity_codes=all_mkeys & _MASK,
        combo_member=combo_member,
        levels=levels,
        mtype=mtype,
        mixed_rows=mixed_rows,
    ), Growth(remap=remap, seg_at=seg_at, added=len(fresh_m), retyped=retyped)
