"""analytics.feature_pairs: the (member, feature) pairs appended to, at the edges the random
pieces of test_pes_table.py may miss: rows of the first pair, several appends to one pair,
appends that bring nothing, and the bounds above which the caller rebuilds."""

from __future__ import annotations

import numpy as np

from collector.analytics.feature_pairs import REBUILD_ABOVE, FeaturePairs


def _rows_of(p: FeaturePairs) -> dict[tuple[int, int], set[int]]:
    """(member, feature) -> the feature rows the merge plan gives that pair."""
    out: dict[tuple[int, int], set[int]] = {}
    for k, (own, rows) in enumerate(p.levels):
        owners = np.arange(len(p)) if k == 0 else own
        for pid, row in zip(owners.tolist(), rows.tolist(), strict=True):
            out.setdefault((int(p.member[pid]), int(p.feat[pid])), set()).add(row)
    return out


def _want(member: np.ndarray, feat: np.ndarray) -> dict[tuple[int, int], set[int]]:
    out: dict[tuple[int, int], set[int]] = {}
    for row, (m, f) in enumerate(zip(member.tolist(), feat.tolist(), strict=True)):
        if m >= 0:
            out.setdefault((m, f), set()).add(row)
    return out


def test_appends_to_known_pairs_the_first_one_included_add_rows_not_pairs() -> None:
    """Rows of pair 0 (the smallest key) and of other known pairs, in three appends, the
    same pair gaining a row in each: one pair per (member, feature), every row in its plan."""
    member = np.array([0, 0, 3, -1, 0, 3, 0, 5, 0, 3], np.int64)
    feat = np.array([1, 2, 1, 0, 1, 1, 1, 2, 1, 1], np.int64)
    kept = FeaturePairs(member[:3], feat[:3])
    for end in (5, 7, 10):
        assert kept.extend(member[:end], feat[:end])
        assert len(kept) == len(_want(member[:end], feat[:end]))
        assert _rows_of(kept) == _want(member[:end], feat[:end])
    assert kept.version == 3
    hit = np.zeros(10, np.bool_)
    hit[8] = True  # the fourth row of pair (0, 1) only
    assert {(int(m), int(f)) for m, f, h in zip(kept.member, kept.feat, kept.hit(hit),
                                                strict=True) if h} == {(0, 1)}  # fmt: skip


def test_an_append_without_rows_for_the_grouping_is_taken_in() -> None:
    member = np.array([2, -1, -1], np.int64)
    feat = np.array([1, 0, 1], np.int64)
    kept = FeaturePairs(member[:1], feat[:1])
    assert kept.extend(member[:1], feat[:1])  # nothing appended
    assert kept.extend(member, feat)  # only rows filtered out
    assert (len(kept), kept.version, kept.n_rows) == (1, 0, 3)


def test_appends_are_refused_only_above_the_rebuild_bounds() -> None:
    """At most REBUILD_ABOVE new rows in one append, and REBUILD_ABOVE pairs appended since
    the build; one more of either and the caller rebuilds."""
    n = REBUILD_ABOVE
    member = np.arange(n + 2, dtype=np.int64)
    feat = np.zeros(n + 2, np.int64)
    kept = FeaturePairs(member[:1], feat[:1])
    assert kept.extend(member[: n + 1], feat[: n + 1])  # n new rows, n new pairs
    assert len(kept.extra) == n
    assert kept.extend(member[: n + 2], feat[: n + 2])  # n pairs since the build: still taken
    assert len(kept.extra) == n + 1
    again = np.concatenate([member, [0]])
    assert not kept.extend(again, np.zeros(len(again), np.int64))
    fresh = FeaturePairs(member[:1], feat[:1])
    assert not fresh.extend(member[: n + 2], feat[: n + 2])  # n + 1 new rows
