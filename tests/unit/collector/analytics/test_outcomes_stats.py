"""Outcomes statistics (specs/outcomes.md, collector/analytics/outcomes_stats.py): Wilson and
Newcombe intervals against hand computations and Newcombe's published table, AUC against a
brute-force oracle."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analytics.outcomes_stats import Z95, auc, newcombe, wilson
from tests.kits.outcomes import brute_force_auc

ZZ = Z95 * Z95  # 3.8414588206941254


# -- Wilson and Newcombe ---------------------------------------------------------------------


def test_wilson_by_hand() -> None:
    assert wilson(0, 0) is None
    # k = 0: centre = half width = (z²/2n) / (1 + z²/n), so the interval is [0, z² / (n + z²)].
    lo, hi = wilson(0, 10) or (math.nan, math.nan)
    assert lo == 0.0  # exactly
    assert hi == pytest.approx(ZZ / (10 + ZZ), abs=1e-12)
    assert ZZ / (10 + ZZ) == pytest.approx(0.2775327999, abs=1e-10)
    # k = n: symmetric, [n / (n + z²), 1].
    lo, hi = wilson(10, 10) or (math.nan, math.nan)
    assert lo == pytest.approx(10 / (10 + ZZ), abs=1e-12)
    assert hi == 1.0  # exactly, not 0.9999999999999999
    assert 10 / (10 + ZZ) == pytest.approx(0.7224672001, abs=1e-10)
    # 7/10: z² = 3.84145882069, z²/n = 0.384145882069, denominator 1.384145882069,
    # centre = (0.7 + 0.192072941035) / 1.384145882069 = 0.644493440027,
    # half = 1.959963985 / 1.384145882069 * sqrt(0.021 + 0.009603647052) = 0.247715292566.
    lo, hi = wilson(7, 10) or (math.nan, math.nan)
    assert lo == pytest.approx(0.644493440027 - 0.247715292566, abs=1e-11)
    assert hi == pytest.approx(0.644493440027 + 0.247715292566, abs=1e-11)
    assert (lo, hi) == pytest.approx((0.3967781475, 0.8922087326), abs=1e-9)
    with pytest.raises(ValueError):
        wilson(3, 2)


@pytest.mark.parametrize(
    ("counts", "expected"),
    # Newcombe (1998), Statist. Med. 17:873-890, Table II, method 10 (score, no continuity
    # correction), examples (a) to (h).
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
        ((10, 10, 0, 10), (0.6075, 1.0000)),
    ],
)
def test_newcombe_matches_the_published_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    ci = newcombe(*counts)
    assert ci is not None
    assert ci == pytest.approx(expected, abs=5e-5)


def test_newcombe_is_none_with_an_empty_group() -> None:
    assert newcombe(0, 0, 3, 5) is None
    assert newcombe(3, 5, 0, 0) is None


# -- AUC -------------------------------------------------------------------------------------


def test_auc_counts_ties_as_one_half() -> None:
    # Pairs (positive, negative): (2, 1) 1, (2, 2) 1/2, (3, 1) 1, (3, 2) 1 -> 3.5 / 4.
    assert auc([1, 2, 2, 3], [False, True, False, True]) == 0.875
    assert auc([5, 5, 5], [True, False, True]) == 0.5
    assert auc([1, 2], [False, True]) == 1.0
    assert auc([1, 2], [True, False]) == 0.0
    assert auc([1, 2], [True, True]) is None
    assert auc([], []) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=40))
def test_rank_auc_equals_the_all_pairs_oracle(rows: list[tuple[int, bool]]) -> None:
    scores = [s * 12.5 for s, _ in rows]  # few values: many ties
    positive = [p for _, p in rows]
    fast, slow = auc(scores, positive), brute_force_auc(scores, positive)
    if slow is None:
        assert fast is None
    else:
        assert fast == pytest.approx(slow, abs=1e-12)


def test_wilson_ends_are_exact_for_every_n() -> None:
    # The formula gives 0 and 1 only up to rounding (e.g. 6e-18 for 0 of 7): the documented
    # exact ends hold for every n.
    for n in range(1, 200):
        assert (wilson(0, n) or (1.0,))[0] == 0.0, n
        assert (wilson(n, n) or (0.0, 0.0))[1] == 1.0, n
    # One success is not zero: 1/10 -> centre 0.211013, half width 0.193137 (z = 1.96), the
    # textbook (0.0179, 0.4042).
    lo, hi = wilson(1, 10) or (math.nan, math.nan)
    assert (lo, hi) == pytest.approx((0.0178762, 0.4041500), abs=1e-6)


def test_wilson_refuses_counts_outside_0_to_n() -> None:
    for k, n in ((3, 2), (-1, 5)):
        with pytest.raises(ValueError, match=f"need 0 <= k <= n, got k={k} n={n}"):
            wilson(k, n)


def test_newcombe_uses_the_given_z_for_both_groups() -> None:
    # z = 1 (about 68%): narrower than the default 95%, and built from the two z = 1 Wilson
    # intervals exactly as the 95% one is.
    nine, three = wilson(9, 10, 1.0), wilson(3, 10, 1.0)
    assert nine is not None and three is not None
    (l1, u1), (l2, u2) = nine, three
    want = (0.6 - math.hypot(0.9 - l1, u2 - 0.3), 0.6 + math.hypot(u1 - 0.9, 0.3 - l2))
    got = newcombe(9, 10, 3, 10, 1.0)
    assert got == pytest.approx(want, abs=1e-12)
    wide = newcombe(9, 10, 3, 10) or (0.0, 0.0)
    assert got is not None and wide[0] < got[0] and got[1] < wide[1]


def test_auc_takes_0_1_flags_as_well_as_booleans() -> None:
    scores = [0.3, 0.9, 0.1, 0.7, 0.7]
    flags = [0, 1, 0, 1, 0]
    assert auc(scores, flags) == auc(scores, [bool(f) for f in flags]) == pytest.approx(5.5 / 6)


@pytest.mark.parametrize(
    ("scores", "positive"),
    [([1.0, 2.0], [True]), ([[1.0, 2.0]], [[True, False]]), (1.0, True)],
)
def test_auc_refuses_arrays_of_other_lengths_or_shapes(scores: Any, positive: Any) -> None:
    with pytest.raises(ValueError, match=r"^scores and positive must be 1-D arrays of one length$"):
        auc(scores, positive)
