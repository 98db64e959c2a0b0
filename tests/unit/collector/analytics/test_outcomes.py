"""Outcomes report (specs/outcomes.md): intervals against hand computations and Newcombe's
published table, AUC against a brute-force oracle, the spec's edge cases for bands and the top
quartile, and the weight fit against known solutions and its optimality conditions."""

from __future__ import annotations

import json
import math
from datetime import date
from itertools import pairwise, product
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analytics.outcomes import (
    DEFAULT_WEIGHTS,
    SIGNALS,
    ScoredOutcome,
    report,
    report_arrays,
    score_period,
)
from collector.analytics.outcomes_stats import Z95, auc, newcombe, wilson
from collector.analytics.outcomes_weights import (
    cross_validated_auc,
    fit_nonnegative_logistic,
    fold_of,
    suggested_weights,
)

ZZ = Z95 * Z95  # 3.8414588206941254


def item(retained: bool, score: float, *signals: float) -> ScoredOutcome:
    sig = signals or (score / 100,) * 4
    return ScoredOutcome(retained, score, dict(zip(SIGNALS, sig, strict=True)))


# -- score period --------------------------------------------------------------------------


def test_score_period_is_t_minus_lead_minus_length_plus_1_to_t_minus_lead() -> None:
    # 2026-06-30 - 30 days = 2026-05-31; 29 days before that = 2026-05-02.
    assert score_period(date(2026, 6, 30)) == (date(2026, 5, 2), date(2026, 5, 31))
    assert score_period(date(2026, 3, 1), lead=0, length=1) == (date(2026, 3, 1),) * 2
    assert score_period(date(2026, 3, 10), lead=2, length=7) == (date(2026, 3, 2), date(2026, 3, 8))
    with pytest.raises(ValueError):
        score_period(date(2026, 3, 1), lead=-1)
    with pytest.raises(ValueError):
        score_period(date(2026, 3, 1), length=0)


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


def brute_force_auc(scores: list[float], positive: list[bool]) -> float | None:
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    if not pos or not neg:
        return None
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in product(pos, neg))
    return wins / (len(pos) * len(neg))


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


# -- the report ------------------------------------------------------------------------------


def test_a_small_report_by_hand() -> None:
    scores = [10, 20, 30, 40, 50, 60, 70, 80]
    kept = [False, False, True, False, True, True, True, True]
    r = report([item(k, s) for k, s in zip(kept, scores, strict=True)])
    assert r["n"] == 8
    assert [(b["lo"], b["hi"], b["n"], b["retained"]) for b in r["bands"]] == [
        (0, 30, 2, 0),
        (30, 60, 3, 2),
        (60, 70, 1, 1),
        (70, 100, 2, 2),
    ]
    assert [b["rate"] for b in r["bands"]] == [0.0, 2 / 3, 1.0, 1.0]
    assert r["bands"][1]["rate_ci"] == list(wilson(2, 3) or ())
    q = r["top_quartile"]
    # Position 0.75 * 7 = 5.25 between 60 and 70: 62.5. Top: 70 and 80, both retained; the
    # rest 3 of 6.
    assert q["threshold"] == 62.5
    assert (q["n"], q["rate"], q["rest_n"], q["rest_rate"]) == (2, 1.0, 6, 0.5)
    assert q["difference"] == 0.5
    assert q["difference_ci"] == list(newcombe(2, 2, 3, 6) or ())
    # Positives 30, 50, 60, 70, 80 against negatives 10, 20, 40: 2 + 3 + 3 + 3 + 3 = 14 of 15.
    assert r["auc"] == pytest.approx(14 / 15, abs=1e-12)
    assert r["signal_auc"] == {s: pytest.approx(14 / 15, abs=1e-12) for s in SIGNALS}
    assert json.loads(json.dumps(r)) == r  # plain JSON types only


def test_band_edges_score_exactly_30_in_30_to_60_and_100_in_the_last_band() -> None:
    scores = [0, 29.999999, 30, 59.999, 60, 69.9, 70, 100]
    r = report([item(True, s) for s in scores])
    assert [b["n"] for b in r["bands"]] == [2, 2, 2, 2]
    r = report([item(False, 100), item(True, 50)], bands=(0, 50, 100))
    assert [(b["n"], b["retained"]) for b in r["bands"]] == [(0, 0), (2, 1)]
    r = report([item(True, 10)], bands=(0, 50, 100))
    empty = {"lo": 50, "hi": 100, "n": 0, "retained": 0, "rate": None, "rate_ci": None}
    assert r["bands"][1] == empty


def test_top_quartile_includes_ties_at_the_threshold() -> None:
    # Position 0.75 * 4 = 3 is exactly a 20: every 20 is in the top.
    rows = [(False, 10), (True, 20), (False, 20), (True, 20), (True, 40)]
    r = report([item(k, s) for k, s in rows])
    q = r["top_quartile"]
    assert (q["threshold"], q["n"], q["rest_n"], q["rate"], q["rest_rate"]) == (20, 4, 1, 0.75, 0)
    assert q["difference"] == 0.75


def test_top_quartile_when_the_rest_is_empty_or_there_is_nothing() -> None:
    q = report([item(True, 50), item(False, 50), item(False, 50)])["top_quartile"]
    assert (q["threshold"], q["n"], q["rate"]) == (50, 3, pytest.approx(1 / 3))
    assert (q["rest_n"], q["rest_rate"], q["difference"], q["difference_ci"]) == (
        0,
        None,
        None,
        None,
    )
    r = report([])
    assert r["n"] == 0 and r["auc"] is None
    assert r["top_quartile"] == {
        "threshold": None,
        "n": 0,
        "rate": None,
        "rest_n": 0,
        "rest_rate": None,
        "difference": None,
        "difference_ci": None,
    }
    assert all(b["n"] == 0 and b["rate"] is None for b in r["bands"])


def test_all_renewed_leaves_every_auc_and_the_suggestion_undefined() -> None:
    r = report([item(True, s) for s in (0, 10, 55, 90)])
    assert r["auc"] is None
    assert r["signal_auc"] == dict.fromkeys(SIGNALS)
    assert r["weights"] == {
        "configured": DEFAULT_WEIGHTS,
        "suggested": None,
        "cv_auc_configured": None,
        "cv_auc_suggested": None,
    }
    assert r["top_quartile"]["rate"] == 1.0 and r["top_quartile"]["rest_rate"] == 1.0


class Naive(NamedTuple):
    bands: list[tuple[int, int]]  # (n, retained)
    threshold: float
    top: tuple[int, int]
    rest: tuple[int, int]
    auc: float | None


def naive_report(rows: list[tuple[bool, float]], edges: tuple[float, ...]) -> Naive:
    """Bands, top quartile and AUC written out plainly from the spec, for comparison."""
    bands = []
    for i, (lo, hi) in enumerate(pairwise(edges)):
        last = i == len(edges) - 2
        inside = [k for k, s in rows if lo <= s < hi or (last and s == hi)]
        bands.append((len(inside), sum(inside)))
    xs = sorted(s for _, s in rows)
    h = (len(xs) - 1) * 0.75  # linear interpolation between closest ranks
    j = math.floor(h)
    threshold = xs[j] if h == j else xs[j] + (h - j) * (xs[j + 1] - xs[j])
    top = [k for k, s in rows if s >= threshold]
    rest = [k for k, s in rows if s < threshold]
    return Naive(
        bands,
        threshold,
        (len(top), sum(top)),
        (len(rest), sum(rest)),
        brute_force_auc([s for _, s in rows], [k for k, _ in rows]),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 40)), min_size=1, max_size=60),
    st.sampled_from([(0, 30, 60, 70, 100), (0, 100), (0, 2.5, 50, 97.5, 100)]),
)
def test_the_report_agrees_with_a_plain_reading_of_the_spec(
    rows: list[tuple[bool, int]], edges: tuple[float, ...]
) -> None:
    scored = [(k, s * 2.5) for k, s in rows]  # scores on a grid: ties and exact band edges
    r = report([item(k, s) for k, s in scored], bands=edges)
    ref = naive_report(scored, edges)
    assert [(b["n"], b["retained"]) for b in r["bands"]] == ref.bands
    q = r["top_quartile"]
    assert q["threshold"] == pytest.approx(ref.threshold, abs=1e-12)
    (n_top, k_top), (n_rest, k_rest) = ref.top, ref.rest
    assert (q["n"], q["rest_n"]) == (n_top, n_rest)
    assert q["rate"] == k_top / n_top
    if n_rest:
        assert q["difference"] == pytest.approx(k_top / n_top - k_rest / n_rest, abs=1e-15)
        assert q["difference_ci"] == list(newcombe(k_top, n_top, k_rest, n_rest) or ())
    else:
        assert q["difference"] is None and q["difference_ci"] is None
    if ref.auc is None:
        assert r["auc"] is None
    else:
        assert r["auc"] == pytest.approx(ref.auc, abs=1e-12)


def test_inactive_entities_score_0_with_every_signal_0() -> None:
    out = ScoredOutcome.inactive(False)
    assert (out.score, dict(out.signals)) == (0.0, dict.fromkeys(SIGNALS, 0.0))
    r = report([out, item(True, 80)])
    assert r["bands"][0]["n"] == 1 and r["auc"] == 1.0
    assert ScoredOutcome.from_health_row(False, None) == out
    signals = {"frequency": 1.0, "breadth": 0.5, "key_actions": 0.6, "depth": 0.4}
    row = {"entity": "a-1", "health": 61.0, "active_days": 30, **signals}
    assert ScoredOutcome.from_health_row(True, row) == ScoredOutcome(True, 61.0, signals)


@pytest.mark.parametrize(
    "bands", [(0,), (0, 50, 50, 100), (0, 60, 30, 100), (10, 100), (0, 50), (0, math.nan, 100)]
)
def test_bad_bands_are_refused(bands: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="band"):
        report([item(True, 50)], bands=bands)


@pytest.mark.parametrize(
    "weights",
    [
        {"frequency": 50, "breadth": 50, "key_actions": 0},
        {"frequency": 50, "breadth": 50, "key_actions": 0, "depth": 0, "x": 0},
        {"frequency": 110, "breadth": -10, "key_actions": 0, "depth": 0},
        {"frequency": 25, "breadth": 25, "key_actions": 25, "depth": 24},
    ],
)
def test_bad_weights_are_refused(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        report([item(True, 50)], weights=weights)


@pytest.mark.parametrize(
    "bad",
    [
        ScoredOutcome(True, 100.5, dict.fromkeys(SIGNALS, 1.0)),
        ScoredOutcome(True, -1, dict.fromkeys(SIGNALS, 0.0)),
        ScoredOutcome(True, math.nan, dict.fromkeys(SIGNALS, 0.0)),
        ScoredOutcome(True, 50, dict.fromkeys(SIGNALS, 1.5)),
        ScoredOutcome(True, 50, {"frequency": 0.5}),
    ],
)
def test_bad_items_are_refused(bad: ScoredOutcome) -> None:
    with pytest.raises(ValueError):
        report([item(False, 10), bad])


def test_items_of_the_wrong_type_and_arrays_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ValueError, match="retained"):
        report([ScoredOutcome("yes", 50, dict.fromkeys(SIGNALS, 0.5))])  # type: ignore[arg-type]  # on purpose
    with pytest.raises(ValueError, match="numbers"):
        report([ScoredOutcome(True, "50", dict.fromkeys(SIGNALS, 0.5))])  # type: ignore[arg-type]  # on purpose
    y = np.array([True, False, True, False])
    with pytest.raises(ValueError, match="same outcomes"):
        report_arrays(y, [1.0, 2, 3, 4], np.zeros((4, 5)))  # 20 values, divisible by 4
    with pytest.raises(ValueError, match="booleans"):
        report_arrays([1, 0, 1, 0], [1.0, 2, 3, 4], np.zeros((4, 4)))
    assert report_arrays(np.array([], dtype=bool), [], [])["n"] == 0


# -- suggested weights -----------------------------------------------------------------------


def kkt_residual(x: np.ndarray, y: np.ndarray, b: float, beta: np.ndarray, l2: float) -> float:
    """Largest violation of the optimality conditions of the fit: zero gradient for the
    intercept and positive coefficients, gradient >= 0 for coefficients at 0."""
    z = b + x @ beta
    r = 0.5 * (1 + np.tanh(z / 2)) - y  # the logistic function, without overflow
    g0 = float(r.mean())
    g = x.T @ r / len(y) + l2 * beta
    at_zero = beta == 0
    viol = np.where(at_zero, np.maximum(-g, 0), np.abs(g))
    return max(abs(g0), float(viol.max()), float(np.maximum(-beta, 0).max()))


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(8, 300),
    st.sampled_from([1e-6, 1e-3, 1e-1]),
    st.sampled_from(["random", "binary", "constant", "duplicate"]),
)
def test_the_fit_meets_the_optimality_conditions(seed: int, n: int, l2: float, kind: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4)) * (rng.random(4) < 0.8)  # some signals all 0
    if kind == "binary":
        x = np.round(x)
    elif kind == "constant":  # like the intercept: a degenerate optimum at 0
        x[:, 0] = 1.0
    elif kind == "duplicate":
        x[:, 1] = x[:, 0]
    true = rng.normal(0, 3, 4)
    y = rng.random(n) < 1 / (1 + np.exp(-(x @ true - true.sum() / 2)))
    y[0], y[1] = True, False
    b, beta = fit_nonnegative_logistic(x, y, l2)
    assert kkt_residual(x, y.astype(float), b, beta, l2) < 1e-7


def test_one_binary_signal_gives_the_log_odds_ratio() -> None:
    # Without a penalty the maximum likelihood slope for a 0/1 signal is the log odds ratio:
    # 30 of 40 retained with the signal, 10 of 40 without: log(3) - log(1/3) = log(9).
    x = np.zeros((80, 4))
    x[:40, 0] = 1.0
    y = np.array([True] * 30 + [False] * 10 + [True] * 10 + [False] * 30)
    b, beta = fit_nonnegative_logistic(x, y, l2=1e-10)
    assert b == pytest.approx(math.log(1 / 3), abs=1e-6)
    assert beta == pytest.approx([math.log(9), 0, 0, 0], abs=1e-6)
    assert suggested_weights(x, y) == pytest.approx([100, 0, 0, 0], abs=1e-12)


def test_identical_signals_share_the_weight_and_a_harmful_one_gets_none() -> None:
    rng = np.random.default_rng(3)
    s = rng.random(500)
    y = rng.random(500) < s
    x = np.column_stack([s, s, 1 - s, np.zeros(500)])  # key_actions predicts churn
    w = suggested_weights(x, y)
    assert w == pytest.approx([50, 50, 0, 0], abs=1e-6)
    assert w[2] == 0.0 and w.sum() == pytest.approx(100, abs=1e-9)


def test_a_constant_signal_gets_exactly_no_weight() -> None:
    # Every entity active every day (frequency 1): the signal says nothing the intercept does not,
    # and at the optimum its gradient equals the intercept's (0), so its coefficient is exactly
    # 0, not a tiny number left by steps that approach the bound without reaching it.
    for seed in range(20, 30):
        rng = np.random.default_rng(seed)
        x = rng.random((200, 4))
        x[:, 0] = 1.0
        true = rng.normal(0, 5, 4)
        y = rng.random(200) < 1 / (1 + np.exp(-(x @ true - true.sum() / 2)))
        b, beta = fit_nonnegative_logistic(x, y)
        assert beta[0] == 0.0
        assert kkt_residual(x, y.astype(float), b, beta, 1e-3) < 1e-9


def test_no_useful_signal_gives_equal_weights() -> None:
    s = np.linspace(0, 1, 40)
    x = np.column_stack([s, s, s, s])
    y = s < 0.5  # every signal predicts churn: all coefficients 0
    assert suggested_weights(x, y) == pytest.approx([25, 25, 25, 25])
    r = report_arrays(y, x @ [25, 35, 25, 15], x)
    assert r["weights"]["suggested"] == dict.fromkeys(SIGNALS, 25.0)


def test_folds_are_seeded_and_stratified() -> None:
    y = np.array([True] * 23 + [False] * 12)
    folds = fold_of(y, seed=5)
    assert np.array_equal(folds, fold_of(y, seed=5))
    assert not np.array_equal(folds, fold_of(y, seed=6))
    for kind in (y, ~y):
        counts = np.bincount(folds[kind], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.bincount(folds, minlength=5).tolist() == [7, 7, 7, 7, 7]


def test_cross_validation() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    x = rng.random((n, 4))
    # Only depth matters: the configured weights (15% on depth) rank worse than the suggested.
    y = rng.random(n) < 1 / (1 + np.exp(-(8 * x[:, 3] - 4)))
    configured = np.array([25.0, 35, 25, 15])
    cv_conf, cv_sugg = cross_validated_auc(x, y, configured, seed=0)
    assert cv_conf == auc(x @ configured, y)
    assert cv_conf is not None and cv_sugg is not None
    assert cv_sugg > cv_conf + 0.1
    assert cross_validated_auc(x, y, configured, seed=0) == (cv_conf, cv_sugg)
    assert cross_validated_auc(x, np.ones(n, dtype=bool), configured) == (None, None)
    r = report_arrays(y, x @ configured, x, seed=0)
    assert r["weights"]["cv_auc_configured"] == r["auc"] == cv_conf
    assert r["weights"]["cv_auc_suggested"] == cv_sugg
    assert r["weights"]["suggested"]["depth"] > 90


def test_tiny_reports_do_not_break_the_cross_validation() -> None:
    for rows in ([(True, 10), (False, 20)], [(True, 10), (False, 20), (True, 30)]):
        r = report([item(k, s) for k, s in rows])
        assert r["weights"]["cv_auc_configured"] == r["auc"]
        assert r["weights"]["cv_auc_suggested"] is not None


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
