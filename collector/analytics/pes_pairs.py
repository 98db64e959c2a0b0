"""Feature adoption's (member, feature) pairs for one core configuration, prepared once per
request: which pairs can count, the members' segment and vocabulary index of each, and (for a
trend) their days of use, so that each period is a mask operation, a gather and two bincounts.

A pair counts in P when its member is active in P, used the feature in P, and the feature is
in the member's core set C_e. Most members have one device type in all their combinations
(Grouping.mtype): their C_e is their type's core set whatever the period, so the pairs outside
it are dropped here once. Members with several types (accounts, a device whose type changed)
have a C_e per period and are checked per period.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from collector.analytics.arrays import Bools, Ints, Words
from collector.analytics.bits import bits_between, bits_between_cols
from collector.analytics.feature_pairs import FeaturePairs, Grown, reduce_levels
from collector.analytics.pes_slots import Counts, Plan, Slots, plan
from collector.analytics.segments import SegmentState
from collector.analytics.state import Snapshot
from collector.storage.bitmaps import BLOCK_DAYS

Levels = list[tuple[Ints, Ints]]
Adopted = Ints | Counts  # per member; uint8 when every pair is in slots


@dataclass(frozen=True, slots=True)
class PairWords:
    """The candidates' days of use in the blocks of a trend's periods (Candidates.gather): the
    fixed ones in slots (pes_slots) or, those of sparse slots, as a list; the per-period ones
    as a list. One contiguous array per block."""

    slots: Slots
    fixed: list[Words]  # the listed fixed candidates'
    member: Ints  # their members
    key: Ints  # their (segment, feature) keys
    varying: list[Words]
    lo: int  # ordinal of bit 0 of the first column
    # Listed fixed candidates with a day of use on which their member is not active (a feature
    # row read one refresh before its activity: storage reads the two tables apart). Only these
    # need the per-period test that the member is active; for the others a use in P implies it.
    unchecked: Ints


class Candidates:
    def __init__(self, st: SegmentState, snap: Snapshot, vocab: list[str], core: Bools) -> None:
        """`core`: (device types, vocab) core sets."""
        self.vocab, self.core = vocab, core
        self.n_voc = max(len(vocab), 1)
        # Per candidate, fixed (s_) and per period (d_): pair id, member, (segment, feature)
        # key or vocabulary index, first feature row. Appended to by extend.
        self._s = [Grown(np.zeros(0, np.int64)) for _ in range(4)]
        self._d = [Grown(np.zeros(0, np.int64)) for _ in range(4)]
        self._higher: tuple[Levels, Levels] = ([], [])
        self.shape = (0, 0)  # segments and members of the grouping (set by `candidates`)
        self._plan: tuple[tuple[int, int], Plan] | None = None  # (shape, slots)
        self.n_pairs = 0
        self.extend(st, snap)

    @property
    def s_member(self) -> Ints:
        return self._s[1].a

    @property
    def s_key(self) -> Ints:
        return self._s[2].a

    @property
    def d_member(self) -> Ints:
        return self._d[1].a

    @property
    def d_voc(self) -> Ints:
        return self._d[2].a

    @property
    def levels(self) -> tuple[Levels, Levels]:
        """Merge plans of the fixed and the per-period candidates over the feature rows."""
        none = np.zeros(0, np.int64)
        return (
            [(none, self._s[3].a), *self._higher[0]],
            [(none, self._d[3].a), *self._higher[1]],
        )

    def extend(self, st: SegmentState, snap: Snapshot) -> None:
        """Take in the pairs appended since (FeaturePairs.extend numbers new pairs after the
        old ones; their first rows never change) and the new later rows of old pairs (those
        plans are taken anew: they hold only members with several combinations)."""
        pairs, group = st.pairs, st.group
        assert pairs is not None and group is not None
        v_index = {f: k for k, f in enumerate(self.vocab)}
        to_vocab = np.array([v_index.get(f, -1) for f in snap.features] or [-1], np.int64)
        new = np.arange(self.n_pairs, len(pairs))
        pv = to_vocab[pairs.feat[new]]
        mt = group.mtype[pairs.member[new]]
        fixed = (pv >= 0) & (mt >= 0)
        fixed[fixed] = self.core[mt[fixed], pv[fixed]]
        for out, sel, fixed_key in (
            (self._s, np.flatnonzero(fixed), True),
            (self._d, np.flatnonzero((pv >= 0) & (mt < 0)), False),
        ):
            ids = new[sel]
            member = pairs.member[ids]
            key = group.seg[member] * self.n_voc + pv[sel] if fixed_key else pv[sel]
            for grown, values in zip(out, (ids, member, key, pairs.first_rows(ids)), strict=True):
                grown.append(values)
        self._higher = (pairs.higher_levels(self._s[0].a), pairs.higher_levels(self._d[0].a))
        self._plan = None
        self.n_pairs = len(pairs)

    def renumber(self, st: SegmentState) -> bool:
        """Follow FeaturePairs.renumber (members inserted): the members and (segment, feature)
        keys of the candidates again from their pair ids, which do not change. False when a
        member of a fixed candidate has several device types now (the caller builds anew)."""
        pairs, group = st.pairs, st.group
        assert pairs is not None and group is not None
        s_member = pairs.member[self._s[0].a]
        if (group.mtype[s_member] < 0).any():
            return False
        self._s[1].a[:] = s_member
        self._s[2].a[:] = group.seg[s_member] * self.n_voc + self._s[2].a % self.n_voc
        self._d[1].a[:] = pairs.member[self._d[0].a]
        return True

    def plan(self) -> Plan:
        """The slots of these candidates (pes_slots), kept until they change (extend) or the
        grouping's shape does (members inserted: renumber)."""
        if self._plan is None or self._plan[0] != self.shape:
            n_seg, n_mem = self.shape
            got = plan(self.s_key, self.s_member, self.levels[0], n_seg, self.n_voc, n_mem)
            self._plan = self.shape, got
        return self._plan[1]

    def gather(self, snap: Snapshot, lo: int, hi: int, members: list[Words]) -> PairWords:
        """The pairs' days of use in the blocks of [lo, hi] (ordinals), for several periods.
        members: the members' words, one array per block (bits.columns)."""
        # The members' words are the snapshot's activity words per member, and a Snapshot's
        # feature words have the same blocks as its activity words (Snapshot checks): every
        # block read here has the members' words.
        b0 = max(lo // BLOCK_DAYS - snap.block0, 0)
        b1 = min(hi // BLOCK_DAYS - snap.block0, len(members) - 1)
        p = self.plan()
        member, key = self.s_member[p.rest], self.s_key[p.rest]
        laid, fixed, varying = [], [], []
        unchecked = np.zeros(len(p.rest), np.bool_)
        for b in range(b0, b1 + 1):
            col = snap.f_words[:, b]
            words, listed = p.words(col)
            laid.append(words)
            fixed.append(listed)
            varying.append(reduce_levels(self.levels[1], col, np.bitwise_or))
            unchecked |= (listed & ~members[b][member]) != 0
        first = (snap.block0 + b0) * BLOCK_DAYS
        slots = Slots.build(p, laid, members[b0 : b1 + 1], first)
        return PairWords(slots, fixed, member, key, varying, first, np.flatnonzero(unchecked))

    def _hits(
        self, snap: Snapshot, wlo: int, start: int, end: int, words: PairWords | None
    ) -> tuple[Bools, Bools]:
        if words is not None:
            return (
                bits_between_cols(words.fixed, len(words.member), words.lo, start, end),
                bits_between_cols(words.varying, len(self.d_member), words.lo, start, end),
            )
        f_hit = bits_between(snap.f_words, wlo, start, end)
        return (
            reduce_levels(self.levels[0], f_hit, np.logical_or),
            reduce_levels(self.levels[1], f_hit, np.logical_or),
        )

    def used(
        self,
        st: SegmentState,
        snap: Snapshot,
        period: tuple[int, int],
        live: Bools,
        cs: Ints | None,
        set_core: Bools,
        words: PairWords | None = None,
    ) -> tuple[Ints, Adopted]:
        """(users per segment x vocabulary, flattened; adopted core features per member) in
        P = period. live: the members active in P; cs: each member's core-set id in P (-1:
        inactive), needed only with per-period candidates (members of several device types);
        words: from gather, or None to test the feature rows."""
        group = st.group
        assert group is not None
        n_seg, n_mem = len(group.segments), len(live)
        s_hit, d_hit = self._hits(snap, st.wlo, *period, words)
        if words is None:
            s_hit &= live[self.s_member]
            s_member, s_key = self.s_member, self.s_key
        else:
            check = words.unchecked
            s_hit[check] &= live[words.member[check]]
            s_member, s_key = words.member, words.key
        # Positions, then gathers: a boolean index of each array would scan the mask twice.
        hit = np.flatnonzero(s_hit)
        users = np.bincount(s_key[hit], minlength=n_seg * self.n_voc)
        adopted: Adopted
        if words is not None and len(words.slots.keys):
            laid_users, adopted = words.slots.used(*period, live, group.starts, len(users))
            users += laid_users
            if len(hit):
                adopted = adopted + np.bincount(s_member[hit], minlength=n_mem)
        else:
            adopted = np.bincount(s_member[hit], minlength=n_mem)
        if len(self.d_member):
            assert cs is not None
            d_hit &= live[self.d_member]
            pm, pv = self.d_member[d_hit], self.d_voc[d_hit]
            core = set_core[cs[pm], pv] if len(pm) else np.zeros(0, np.bool_)
            pm, pv = pm[core], pv[core]
            users += np.bincount(group.seg[pm] * self.n_voc + pv, minlength=n_seg * self.n_voc)
            adopted = adopted + np.bincount(pm, minlength=n_mem)
        return users, adopted


# Per FeaturePairs object: (its version and layout, the candidates of each core configuration).
# A new version (appended rows) extends them, a new layout (members inserted) renumbers them; a
# grouping rebuild makes a new FeaturePairs object.
Kept = dict[tuple[tuple[str, ...], bytes], Candidates]
_CACHE: weakref.WeakKeyDictionary[FeaturePairs, tuple[int, int, Kept]] = weakref.WeakKeyDictionary()


def candidates(st: SegmentState, snap: Snapshot, vocab: list[str], core: Bools) -> Candidates:
    """The candidates of this core configuration, prepared once and extended as the pairs are
    (call under the state's lock)."""
    pairs, group = st.pairs, st.group
    assert pairs is not None and group is not None
    empty: Kept = {}
    version, layout, kept = _CACHE.get(pairs, (-1, pairs.layout, empty))
    if layout != pairs.layout:  # renumbered before any extension: ids < n_pairs first
        kept = {key: c for key, c in kept.items() if c.renumber(st)}
    if version != pairs.version:
        for cands in kept.values():
            cands.extend(st, snap)
    _CACHE[pairs] = (pairs.version, pairs.layout, kept)
    key = (tuple(vocab), core.tobytes())
    got = kept.get(key)
    if got is None:
        if len(kept) >= 8:  # a few configurations per grouping in practice; bound it anyway
            kept.clear()
        got = kept[key] = Candidates(st, snap, vocab, core)
    got.shape = (len(group.segments), len(st.words))
    return got
