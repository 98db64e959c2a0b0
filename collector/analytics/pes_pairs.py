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

import numpy as np

from collector.analytics.cube import bits_between
from collector.analytics.feature_pairs import FeaturePairs, reduce_levels
from collector.analytics.segments import SegmentState
from collector.analytics.state import Bools, Ints, Snapshot, Words
from collector.storage.bitmaps import BLOCK_DAYS

PairWords = tuple[Words, Words, int]  # days of use of the fixed and the per-period pairs


class Candidates:
    def __init__(self, st: SegmentState, snap: Snapshot, vocab: list[str], core: Bools) -> None:
        """`core`: (device types, vocab) core sets."""
        self.vocab, self.core = vocab, core
        self.n_voc = max(len(vocab), 1)
        empty = np.zeros(0, np.int64)
        self.s_idx, self.d_idx = empty, empty  # candidate pair ids, fixed and per period
        self.s_member, self.s_key, self.d_member, self.d_voc = empty, empty, empty, empty
        self.n_pairs = 0
        self.extend(st, snap)

    def extend(self, st: SegmentState, snap: Snapshot) -> None:
        """Take in the pairs appended since (FeaturePairs.extend numbers new pairs after the
        old ones), and the new rows of old pairs (the merge plans are taken anew)."""
        pairs, group = st.pairs, st.group
        assert pairs is not None and group is not None
        v_index = {f: k for k, f in enumerate(self.vocab)}
        to_vocab = np.array([v_index.get(f, -1) for f in snap.features] or [-1], np.int64)
        new = np.arange(self.n_pairs, len(pairs))
        pv = to_vocab[pairs.feat[new]]
        mt = group.mtype[pairs.member[new]]
        fixed = (pv >= 0) & (mt >= 0)
        fixed[fixed] = self.core[mt[fixed], pv[fixed]]
        s_new, d_new = np.flatnonzero(fixed), np.flatnonzero((pv >= 0) & (mt < 0))
        s_member, d_member = pairs.member[new[s_new]], pairs.member[new[d_new]]
        self.s_idx = np.concatenate([self.s_idx, new[s_new]])
        self.s_member = np.concatenate([self.s_member, s_member])
        self.s_key = np.concatenate([self.s_key, group.seg[s_member] * self.n_voc + pv[s_new]])
        self.d_idx = np.concatenate([self.d_idx, new[d_new]])
        self.d_member = np.concatenate([self.d_member, d_member])
        self.d_voc = np.concatenate([self.d_voc, pv[d_new]])
        self.levels = (pairs.sublevels(self.s_idx), pairs.sublevels(self.d_idx))
        self.n_pairs = len(pairs)

    def gather(self, snap: Snapshot, lo: int, hi: int) -> PairWords:
        """The pairs' days of use in the blocks of [lo, hi] (ordinals), for several periods."""
        b0 = max(lo // BLOCK_DAYS - snap.block0, 0)
        b1 = min(hi // BLOCK_DAYS - snap.block0, snap.f_words.shape[1] - 1)
        cols = snap.f_words[:, b0 : max(b1 + 1, b0)]
        return (
            reduce_levels(self.levels[0], cols, np.bitwise_or),
            reduce_levels(self.levels[1], cols, np.bitwise_or),
            (snap.block0 + b0) * BLOCK_DAYS,
        )

    def _hits(
        self, snap: Snapshot, wlo: int, start: int, end: int, words: PairWords | None
    ) -> tuple[Bools, Bools]:
        if words is not None:
            return (
                bits_between(words[0], words[2], start, end),
                bits_between(words[1], words[2], start, end),
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
        cs: Ints,
        set_core: Bools,
        words: PairWords | None = None,
    ) -> tuple[Ints, Ints]:
        """(users per segment x vocabulary, flattened; adopted core features per member) in
        P = period. cs: each member's core-set id in P (-1: inactive); words: from gather, or
        None to test the feature rows."""
        group = st.group
        assert group is not None
        n_seg, n_mem = len(group.segments), len(cs)
        live = cs >= 0
        s_hit, d_hit = self._hits(snap, st.wlo, *period, words)
        s_hit &= live[self.s_member]
        users = np.bincount(self.s_key[s_hit], minlength=n_seg * self.n_voc)
        adopted = np.bincount(self.s_member[s_hit], minlength=n_mem)
        if len(self.d_member):
            d_hit &= live[self.d_member]
            pm, pv = self.d_member[d_hit], self.d_voc[d_hit]
            core = set_core[cs[pm], pv] if len(pm) else np.zeros(0, np.bool_)
            pm, pv = pm[core], pv[core]
            users += np.bincount(group.seg[pm] * self.n_voc + pv, minlength=n_seg * self.n_voc)
            adopted += np.bincount(pm, minlength=n_mem)
        return users, adopted


# Per FeaturePairs object: (its version, the candidates of each core configuration). A new
# version (appended rows) extends them; a grouping rebuild makes a new FeaturePairs object.
Kept = dict[tuple[tuple[str, ...], bytes], Candidates]
_CACHE: weakref.WeakKeyDictionary[FeaturePairs, tuple[int, Kept]] = weakref.WeakKeyDictionary()


def candidates(st: SegmentState, snap: Snapshot, vocab: list[str], core: Bools) -> Candidates:
    """The candidates of this core configuration, prepared once and extended as the pairs are
    (call under the state's lock)."""
    pairs = st.pairs
    assert pairs is not None
    empty: Kept = {}
    version, kept = _CACHE.get(pairs, (-1, empty))
    if version != pairs.version:
        for cands in kept.values():
            cands.extend(st, snap)
        _CACHE[pairs] = (pairs.version, kept)
    key = (tuple(vocab), core.tobytes())
    got = kept.get(key)
    if got is None:
        if len(kept) >= 8:  # a few configurations per grouping in practice; bound it anyway
            kept.clear()
        got = kept[key] = Candidates(st, snap, vocab, core)
    return got
