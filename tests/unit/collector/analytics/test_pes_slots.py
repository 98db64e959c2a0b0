"""analytics.pes_slots: the trend's fixed candidate pairs laid out by member and slot, checked on
a hand-made fleet (which pair goes to which slot, the words merged from several feature rows,
the pairs left as a list) and, for the per-segment counts, against a plain count. The trend's
rows from slots are checked against each period alone in test_pes_table_trend.py."""

from __future__ import annotations

import numpy as np
import pytest

from collector.analytics import pes_slots
from collector.analytics.pes_slots import Slots, plan, segment_counts

# Members 0, 1 in segment 0 and 2, 3 in segment 1; vocabulary f0, f1, f2 (N_VOC = 3).
# Segment 0: f2 held by members 0 and 1, f0 by member 0: slot 0 is f2, slot 1 f0.
# Segment 1: f1 held by members 2 and 3, f0 by member 3: slot 0 is f1, slot 1 f0.
N_SEG, N_VOC, N_MEM = 2, 3, 4
MEMBER = np.array([0, 0, 1, 2, 3, 3])
FEATURE = np.array([0, 2, 2, 1, 1, 0])
SEG = np.array([0, 0, 0, 1, 1, 1])
KEY = SEG * N_VOC + FEATURE
SLOT = np.array([1, 0, 0, 0, 0, 1])
# Candidate k's first feature row is 15 - k (in the reverse order of the candidates); candidate
# 0 has a second row, 9.
LEVELS = [(np.zeros(0, np.int64), 15 - np.arange(6)), (np.array([0]), np.array([9]))]
COL = np.zeros(16, np.uint64)
COL[9:] = [1 << 40, 1, 2, 4, 8, 16, 32]  # row r's word: candidate k uses day 5 - k (0: and 40)


def _words(k: int) -> int:
    return int(COL[15 - k]) | (int(COL[9]) if k == 0 else 0)


def test_each_segments_features_go_to_slots_by_how_many_members_hold_them() -> None:
    p = plan(KEY, MEMBER, LEVELS, N_SEG, N_VOC, N_MEM)
    assert p.n_slots == 2  # slot 1 holds 2 of 4 members' pairs: at least a quarter
    assert p.keys.tolist() == [[0 * N_VOC + 2, 1 * N_VOC + 1], [0 * N_VOC + 0, 1 * N_VOC + 0]]
    assert len(p.rest) == 0
    laid, listed = p.words(COL)
    want = np.zeros((2, N_MEM), np.uint64)
    for k in range(6):
        want[SLOT[k], MEMBER[k]] = _words(k)
    assert laid.tolist() == want.tolist()
    assert len(listed) == 0
    # The laid pairs are read in the order of their rows (row 10 first, candidate 5's).
    (at, rows, _, _), _ = p.steps
    assert rows.tolist() == sorted(rows.tolist())
    assert at[0] == SLOT[5] * N_MEM + MEMBER[5]


def test_pairs_of_sparse_slots_stay_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pes_slots, "FILL", 1)  # a slot must hold every member's pair
    p = plan(KEY, MEMBER, LEVELS, N_SEG, N_VOC, N_MEM)
    assert p.n_slots == 1 and p.keys.tolist() == [[2, 4]]
    assert p.rest.tolist() == [0, 5]  # the slot-1 pairs, in candidate order
    laid, listed = p.words(COL)
    assert laid.shape == (1, N_MEM)
    assert laid[0].tolist() == [_words(1), _words(2), _words(3), _words(4)]
    assert listed.tolist() == [_words(0), _words(5)]  # candidate 0 with its second row
    monkeypatch.setattr(pes_slots, "MAX_SLOTS", 0)
    monkeypatch.setattr(pes_slots, "FILL", 4)
    assert plan(KEY, MEMBER, LEVELS, N_SEG, N_VOC, N_MEM).rest.tolist() == list(range(6))


def test_slots_count_users_per_segment_feature_and_features_per_member() -> None:
    p = plan(KEY, MEMBER, LEVELS, N_SEG, N_VOC, N_MEM)
    own = np.full(N_MEM, np.uint64(1 << 63))  # every member active on day 63 only
    own[3] |= np.uint64(_words(5) | _words(4))  # member 3 active when it used f0 and f1
    slots = Slots.build(p, [p.words(COL)[0]], [own], 0)
    # Members 0-2 used features on days they were not active (torn reads): checked per period.
    assert [u.tolist() for u in slots.unchecked] == [[0, 1, 2], [0]]
    live = np.array([True, False, True, True])
    users, adopted = slots.used(0, 63, live, np.array([0, 2]), N_SEG * N_VOC)
    # Member 1 is not active: its f2 does not count. Member 0: f2 and f0; 2: f1; 3: f1, f0.
    assert adopted.tolist() == [2, 0, 1, 2]
    assert adopted.dtype == np.uint8  # (MAX_SLOTS): a quarter of int64's memory and divisions
    assert users.tolist() == [1, 0, 1, 1, 2, 0]
    users, adopted = slots.used(0, 0, live, np.array([0, 2]), N_SEG * N_VOC)  # row 10's day
    assert adopted.tolist() == [0, 0, 0, 1] and users.tolist() == [0, 0, 0, 1, 0, 0]


@pytest.mark.parametrize("n_seg", [1, 3, 64, 65, 200])
def test_segment_counts_are_the_set_entries_of_each_segment(n_seg: int) -> None:
    rng = np.random.default_rng(n_seg)
    x = rng.random(1000) < 0.3
    starts = np.concatenate([[0], np.sort(rng.choice(np.arange(1, 1000), n_seg - 1, False))])
    ends = [*starts[1:].tolist(), 1000]
    want = [int(x[a:b].sum()) for a, b in zip(starts.tolist(), ends, strict=True)]
    got = segment_counts(x, starts)
    assert got.dtype == np.int64 and got.tolist() == want
