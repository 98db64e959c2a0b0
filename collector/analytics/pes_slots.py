"""A trend's fixed candidate pairs (pes_pairs.Candidates) laid out by member, per slot.

Per period, adoption needs per member the number of its core features used (the share it adds
to its segment's sum) and per (segment, feature) the number of users. From a list of pairs that
is a mask, the positions hit, two gathers and two bincounts, one of them over every member. Here
each segment's features are ranked by how many of its members have a pair of them, and the pair
of a member's k-th feature goes to row k (slot k) of a (slots, members) array of days of use,
zero where the member has none. Per period and slot, one AND and compare over the members
gives who used the feature: the members' counts are the sum over slots, and since within a
segment slot k is one feature, the users are counts over the segment's slice. A slot costs one
pass over every member, a pair in a list about six times that: slots filled by fewer than a
quarter of the members stay lists (Candidates.used).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from collector.analytics.arrays import Bools, Ints, Words
from collector.analytics.bits import bits_between_cols

FILL = 4  # a slot is laid out when at least 1 / FILL of the members have a pair in it
MAX_SLOTS = 255  # the members' counts add up in uint8

Counts = npt.NDArray[np.uint8]
Levels = list[tuple[Ints, Ints]]


@dataclass(frozen=True, slots=True)
class Plan:
    """Which fixed candidates go to slots, where, and from which feature rows (kept with the
    candidates until they change: Candidates.plan)."""

    n_slots: int
    n_mem: int
    keys: Ints  # (slots, segments): the (segment, feature) key of each segment's slot
    rest: Ints  # positions (in the candidate arrays) of the candidates kept as a list
    # Per level of the candidates' merge plan over the feature rows (feature_pairs.levels_of):
    # (index into the flat (slots, members) array: slot * members + member, the feature row
    # merged there; index into the list, its row).
    steps: list[tuple[Ints, Ints, Ints, Ints]]

    def words(self, col: Words) -> tuple[Words, Words]:
        """One block of the feature rows' words -> (the slots' words, (slots, members); the
        listed candidates' words)."""
        (at, rows, _, rest_rows), *higher = self.steps
        laid = np.zeros(self.n_slots * self.n_mem, np.uint64)
        laid[at] = col[rows]
        listed = col[rest_rows]
        for at, rows, pos, rest_rows in higher:
            laid[at] |= col[rows]
            listed[pos] |= col[rest_rows]
        return laid.reshape(self.n_slots, self.n_mem), listed


def plan(s_key: Ints, s_member: Ints, levels: Levels, n_seg: int, n_voc: int, n_mem: int) -> Plan:
    """s_key: per candidate, segment * n_voc + vocabulary index; s_member: its member; levels:
    the candidates' merge plan (level 0: every candidate's first row, in order)."""
    per = np.bincount(s_key, minlength=n_seg * n_voc).reshape(n_seg, n_voc)
    order = np.argsort(-per, axis=1, kind="stable")  # per segment: its features, most held first
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_voc)[None, :], axis=1)
    slot = rank.ravel()[s_key]
    # Per segment slot k holds no more pairs than slot k - 1, so neither does their total: the
    # slots laid out are the first few.
    filled = np.take_along_axis(per, order, axis=1).sum(axis=0)
    n_slots = min(int(np.count_nonzero(filled * FILL >= n_mem)), MAX_SLOTS)
    laid = slot < n_slots
    rest = np.flatnonzero(~laid)
    where = slot * n_mem + s_member  # a laid candidate's place; a listed one's below
    where[rest] = np.arange(len(rest))
    first = levels[0][1]
    # The laid candidates in the order of their first rows (a counting sort: distinct rows):
    # each block is then read in order, and that gather is the block's largest cost.
    by_row = np.full(int(first.max(initial=-1)) + 1, -1, np.int64)
    by_row[first[laid]] = where[laid]
    in_order = np.flatnonzero(by_row >= 0)
    steps = [(by_row[in_order], in_order, where[rest], first[rest])]
    for own, rows in levels[1:]:
        on = laid[own]
        steps.append((where[own[on]], rows[on], where[own[~on]], rows[~on]))
    keys = np.arange(n_seg)[:, None] * n_voc + order[:, :n_slots]
    return Plan(n_slots, n_mem, np.ascontiguousarray(keys.T), rest, steps)


def segment_counts(x: Bools, starts: Ints) -> Ints:
    """Per segment (members starts[k] on), the set entries of x."""
    if len(starts) <= 64:  # count_nonzero over a bool slice is far cheaper than a cast + sum
        bounds = pairwise([*starts.tolist(), len(x)])
        return np.array([np.count_nonzero(x[a:b]) for a, b in bounds])
    return np.add.reduceat(x, starts, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Slots:
    """The laid-out pairs' days of use in the blocks of a trend's periods."""

    words: list[Words]  # per block: (slots, members), contiguous
    keys: Ints  # (slots, segments), from Plan
    # Per slot: the members whose pair there has a day of use on which the member is not
    # active (see PairWords.unchecked); only they are tested per period.
    unchecked: list[Ints]
    lo: int  # ordinal of bit 0 of the first block

    @classmethod
    def build(cls, p: Plan, laid: list[Words], members: list[Words], lo: int) -> Slots:
        """laid: per block, the slots' words (Plan.words); members: the members' words of the
        same blocks."""
        unchecked = np.zeros((p.n_slots, p.n_mem), np.bool_)
        for b, words in enumerate(laid):
            unchecked |= (words & ~members[b]) != 0
        return cls(laid, p.keys, [np.flatnonzero(u) for u in unchecked], lo)

    def used(
        self, start: int, end: int, live: Bools, starts: Ints, n_keys: int
    ) -> tuple[Ints, Counts]:
        """(users per key, used core features per member) in [start, end]; live: the members
        active then."""
        users = np.zeros(n_keys, np.int64)
        adopted = np.zeros(len(live), np.uint8)
        for k, keys in enumerate(self.keys):
            hit = bits_between_cols([w[k] for w in self.words], len(live), self.lo, start, end)
            check = self.unchecked[k]
            hit[check] &= live[check]
            adopted += hit.view(np.uint8)
            # A segment's slots are distinct features: each key is counted by one slot only.
            users[keys] = segment_counts(hit, starts)
        return users, adopted
