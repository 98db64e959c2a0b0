"""Suggested weights of the outcomes report (collector/analytics/outcomes_weights.py): the fit
against known solutions and its optimality conditions, folds and cross-validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analytics.outcomes import (
    SIGNALS,
    report_arrays,
)
from collector.analytics.outcomes_stats import auc
from collector.analytics.outcomes_weights import (
    cross_validated_auc,
    fit_nonnegative_logistic,
    fold_of,
    suggested_weights,
)

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
