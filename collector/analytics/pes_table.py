"""The PES table (and a trend's tables) from a SegmentState: the same rows as
`aggregate(period_stats(cube, members(...), params))`, computed with per-segment sums.

cube.period_stats keeps every per-member array a bootstrap resamples, among them the (members x
days) window matrices of stickiness; a table needs only their per-segment sums. Here the
stickiness comes from the state's per-segment day counts, the counts of active / new /
recovered / dropped members from a few mask operations over the members' words, and adoption
from the (member, feature) pairs used in the period, whose core set C_e follows from the
member's set of device types (one integer mask per member). Sums are taken in the same order as
`aggregate` takes them, so the floats agree with the previous path (tests/unit/collector/
analytics/test_pes_table.py checks both against the reference implementation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from collector.analytics.arrays import Bools, Floats, Ints, Words
from collector.analytics.bits import bits_between, bits_between_cols, columns
from collector.analytics.cube import core_sets
from collector.analytics.grouping import Grouping
from collector.analytics.params import (
    DEFAULT_CORE_KEY,
    MAU_DAYS,
    MODE_WINDOWS,
    WAU_DAYS,
    PesParams,
    PesResult,
    segment_sort_key,
)
from collector.analytics.pes_pairs import PairWords, candidates
from collector.analytics.scores import core_features_of, daily_ratios, pes_result
from collector.analytics.segments import SegmentState
from collector.analytics.state import Snapshot
from collector.analytics.trend import for_period


class Memo:
    """What one request prepares once for all its periods, which lie in [lo, hi] (ordinals).
    With `gather` (a trend): the members' words and each core configuration's candidate pairs'
    days of use as contiguous columns, and the members active in each interval asked (a week's
    previous period is the week before it)."""

    def __init__(self, lo: int, hi: int, gather: bool) -> None:
        self.lo, self.hi, self.gather = lo, hi, gather
        self.words: dict[tuple[tuple[str, ...], bytes], PairWords] = {}
        self._cols: list[Words] | None = None
        self._active: dict[tuple[int, int], Bools] = {}
        self._one_type: tuple[Ints, bool] | None = None
        self._type_key: Ints | None = None
        self._sizes: dict[object, Floats] = {}

    def active(self, st: SegmentState, start: int, end: int) -> Bools:
        """The members with a day of activity in [start, end] (ordinals)."""
        if not self.gather:
            return bits_between(st.words, st.wlo, start, end)
        got = self._active.get((start, end))
        if got is None:
            got = bits_between_cols(self.columns(st), len(st.words), st.wlo, start, end)
            self._active[start, end] = got
        return got

    def columns(self, st: SegmentState) -> list[Words]:
        """The members' words, one contiguous array per block."""
        if self._cols is None:
            self._cols = columns(st.words)
        return self._cols

    def one_type(self, group: Grouping, n_types: int) -> Ints | None:
        """Per segment: the device type of all its members; None when some segment has
        members of several types (for groupings whose members each have one type)."""
        if self._one_type is None:
            seen = np.zeros((len(group.segments), n_types), np.bool_)
            seen[group.seg, group.mtype] = True
            self._one_type = (seen.argmax(axis=1), bool((seen.sum(axis=1) == 1).all()))
        return self._one_type[0] if self._one_type[1] else None

    def sizes(self, key: object, group: Grouping, size: Ints) -> Floats:
        """Per member of one type each: the size of its type's core set (at least 1), as a
        float: the same quotients as integer sizes give, at half the cost of a division."""
        got = self._sizes.get(key)
        if got is None:
            got = self._sizes[key] = np.maximum(size, 1).astype(np.float64)[group.mtype]
        return got

    def type_key(self, group: Grouping, n_types: int) -> Ints:
        """Per member: segment x types + its device type (members of one type each)."""
        if self._type_key is None:
            self._type_key = group.seg * n_types + group.mtype
        return self._type_key


MAX_TYPES = 63  # a member's device types fit in one uint64 mask


def supported(snap: Snapshot) -> bool:
    """Whether pes_table can answer for this snapshot (else: cube.period_stats)."""
    return len(snap.vocab["device_type"]) <= MAX_TYPES


def _fleet(st: SegmentState, snap: Snapshot, f_hit: Bools) -> dict[str, set[str]]:
    """cube.fleet_features over the grouping's combinations: per device type, the features its
    fleet used in the period."""
    hit = f_hit & (st.f_member >= 0)
    n_feat = max(len(snap.features), 1)
    keys = np.unique(snap.codes["device_type"][snap.f_combo[hit]] * n_feat + snap.f_feat[hit])
    out: dict[str, set[str]] = {}
    for t, f in zip(*divmod(keys, n_feat), strict=True):
        out.setdefault(snap.vocab["device_type"][int(t)], set()).add(snap.features[int(f)])
    return out


def pes_table(
    st: SegmentState, snap: Snapshot, params: PesParams, memo: Memo | None = None
) -> list[PesResult]:
    """One PesResult per segment with a member active in P or P', in segment order. `st` must
    be up to date with `snap` (SegmentState.update, under its lock). `memo`: what one request
    computes once for several periods (trend_tables)."""
    start, end = params.start.toordinal(), params.end.toordinal()
    memo = Memo(start, end, gather=False) if memo is None else memo
    if not memo.lo <= start <= end <= memo.hi:
        raise ValueError("the period lies outside the request's memo")
    group = st.group
    if group is None or st.snap is not snap:
        raise ValueError("the segment state is not at this snapshot")
    if not group.segments:
        return []
    length = params.length
    if not st.counts_between(1, start - length, end).any():
        return []  # no member active in P or P': no row (a trend's weeks before the history)
    wlo, seg, starts = st.wlo, group.seg, group.starts
    n_seg, n_mem = len(group.segments), len(st.words)

    ends = np.append(starts[1:], n_mem).tolist()

    def per_segment(x: Bools) -> list[int]:
        if n_seg <= 64:  # count_nonzero over a bool slice is far cheaper than a cast + sum
            return [
                int(np.count_nonzero(x[a:b])) for a, b in zip(starts.tolist(), ends, strict=True)
            ]
        return [int(c) for c in np.add.reduceat(x, starts, dtype=np.int64)]

    active = memo.active(st, start, end)
    in_prev = memo.active(st, start - length, start - 1)
    new = active & (st.first >= start)
    recovered = active & ~in_prev & (st.first < start - length)
    dropped = in_prev & ~active

    # C_e follows from the device types of the member's activity in P. Most members have one
    # type in all their combinations; only the others need their combinations looked at.
    type_names = snap.vocab["device_type"]
    n_types = len(type_names)
    set_types = np.eye(n_types, dtype=np.bool_)
    mixed_rows = group.mixed_rows
    counts = [per_segment(x) for x in (active, in_prev, new, recovered, dropped)]
    # cs: core-set id per member in P (-1: inactive). Without members of several types it is
    # the member's type when active (group.mtype): no per-member array then.
    cs: Ints | None = None
    if len(mixed_rows):
        cs = np.where(active & (group.mtype >= 0), group.mtype, -1)
        in_p = bits_between(snap.act[mixed_rows], wlo, start, end)
        owner = group.combo_member[mixed_rows]
        tcode = snap.codes["device_type"][mixed_rows]
        tmask = np.zeros(n_mem, np.uint64)
        np.bitwise_or.at(
            tmask, owner[in_p], np.left_shift(np.uint64(1), tcode[in_p].astype(np.uint64))
        )
        single = (tmask != 0) & ((tmask & (tmask - np.uint64(1))) == 0)
        mixed = np.flatnonzero((tmask != 0) & ~single & active)
        one = np.flatnonzero(single & active)
        cs[one] = np.log2(tmask[one].astype(np.float64)).astype(np.int64)
        if len(mixed):
            masks, which = np.unique(tmask[mixed], return_inverse=True)
            cs[mixed] = n_types + which
            bits = np.unpackbits(masks.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1,
                                 bitorder="little")[:, :n_types].astype(np.bool_)  # fmt: skip
            set_types = np.concatenate([set_types, bits])
    n_sets = len(set_types)
    # Active members per (segment, core set), column 0 the inactive: eligible counts, the
    # types present in P and shown per segment, members with a core set.
    if cs is None and (one_type := memo.one_type(group, n_types)) is not None:
        per_set = np.zeros((n_seg, n_sets), np.int64)
        per_set[np.arange(n_seg), one_type] = counts[0]
    elif cs is None:
        per_set = np.bincount(memo.type_key(group, n_types)[np.flatnonzero(active)],
                              minlength=n_seg * n_sets).reshape(n_seg, n_sets)  # fmt: skip
    else:
        per_set = np.bincount(seg * (n_sets + 1) + (cs + 1), minlength=n_seg * (n_sets + 1))
        per_set = per_set.reshape(n_seg, n_sets + 1)[:, 1:]
    seg_types = (per_set @ set_types.astype(np.int64)) > 0
    present = [type_names[t] for t in np.flatnonzero(seg_types.any(axis=0)).tolist()]
    fleet: dict[str, set[str]] = {}
    configured = params.core_features
    if DEFAULT_CORE_KEY not in configured and any(t not in configured for t in present):
        fleet = _fleet(st, snap, bits_between(snap.f_words, wlo, start, end))
    cores = core_sets(params, present, fleet)
    vocab = sorted(set().union(*cores.values())) if cores else []
    v_index = {f: k for k, f in enumerate(vocab)}
    core = np.zeros((n_types, len(vocab)), np.bool_)
    for t, names in cores.items():
        core[type_names.index(t), [v_index[f] for f in names]] = True
    set_core = (set_types.astype(np.int64) @ core.astype(np.int64)) > 0
    size = set_core.sum(axis=1)
    n_core = (per_set @ (size > 0).astype(np.int64)).tolist()
    eligible = (per_set @ set_core.astype(np.int64)).tolist()
    row_core = (seg_types.astype(np.int64) @ core.astype(np.int64)) > 0
    # Features used in P: the (member, feature) pairs hit, of active members, core for them.
    n_voc = max(len(vocab), 1)
    cands = candidates(st, snap, vocab, core)
    key = (tuple(vocab), core.tobytes())
    if memo.gather and key not in memo.words:
        memo.words[key] = cands.gather(snap, memo.lo, memo.hi, memo.columns(st))
    users, adopted = cands.used(st, snap, (start, end), active, cs, set_core,
                                memo.words.get(key))  # fmt: skip
    users_l = users.reshape(n_seg, n_voc).tolist()
    # adopted > 0 only where the member is active with a core set (see Candidates.used); the
    # zeros elsewhere keep reduceat's sums the same as aggregate's over every member.
    if cs is None:  # every member's core set is its type's: one division, 0 / size is 0.0
        share = adopted / memo.sizes(key, group, size)
    else:
        share = np.zeros(n_mem, np.float64)
        some = np.flatnonzero(adopted)
        share[some] = adopted[some] / size[cs[some]]
    shares = np.add.reduceat(share, starts).tolist()  # n_mem > 0: there are segments

    num_w, den_w = MODE_WINDOWS[params.stickiness]
    num = st.counts_between(num_w, start, end).astype(np.float64)
    den = st.counts_between(den_w, start, end).astype(np.float64)
    ratio_sums, days_ok = daily_ratios(num, den)
    dau = st.counts_between(1, end, end)[:, 0].tolist()
    wau = st.counts_between(WAU_DAYS, end, end)[:, 0].tolist()
    mau = st.counts_between(MAU_DAYS, end, end)[:, 0].tolist()

    out: list[PesResult] = []
    order = sorted(range(n_seg), key=lambda k: segment_sort_key(group.segments[k]))
    for k in order:
        n_active, n_prev, n_new, rec, drop = (c[k] for c in counts)
        if not (n_active or n_prev):
            continue
        types = sorted(np.flatnonzero(seg_types[k]).tolist(), key=type_names.__getitem__)
        out.append(
            pes_result(
                params,
                group.segments[k],
                active=n_active,
                share_sum=shares[k],
                n_core=n_core[k],
                ratio_sum=ratio_sums[k],
                days_ok=days_ok[k],
                new=n_new,
                recovered=rec,
                dropped=drop,
                dau=dau[k],
                wau=wau[k],
                mau=mau[k],
                core_features=core_features_of(types, type_names, vocab, core),
                feature_adoption={
                    f: users_l[k][j] / eligible[k][j] for j, f in enumerate(vocab) if row_core[k, j]
                },
            )
        )
    return out


def trend_tables(
    st: SegmentState, snap: Snapshot, spans: Sequence[tuple[date, date]], template: PesParams
) -> list[tuple[date, date, PesResult]]:
    """trend.trend from the segment state: its day counts serve every period."""
    out: list[tuple[date, date, PesResult]] = []
    lo, hi = min(a.toordinal() for a, _ in spans), max(b.toordinal() for _, b in spans)
    memo = Memo(lo, hi, gather=len(spans) > 1)
    for a, b in spans:
        out += [(a, b, r) for r in pes_table(st, snap, for_period(template, a, b), memo)]
    return out
