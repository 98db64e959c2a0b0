"""Suggested health weights (specs/outcomes.md): a regularised logistic regression of retained on
the four signals with non-negative coefficients, and the cross-validated AUC of configured and
suggested weights. Numpy only (no scipy or scikit-learn for one small convex problem).

The fit minimises, over an intercept b (free, not penalised) and coefficients beta >= 0,

    mean_i [ log(1 + exp(z_i)) - y_i z_i ] + l2 / 2 * |beta|²,   z_i = b + x_i . beta,

on the raw signals (each already in [0, 1], so one scale and no standardising: the weights apply
to the signals as health does). The problem is strictly convex, so the minimum is unique; it is
found by Newton steps, each the exact minimum of the local quadratic model within the bounds
(the model is 5-dimensional: every face of the box is tried), with an Armijo line search, until
the first-order optimality conditions hold to 1e-10. Suggested weights = beta scaled to sum
100; all coefficients 0 (every signal useless or harmful, or one kind of outcome only) gives equal
weights, 25 each.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from collector.analytics.outcomes_stats import auc

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Mild: with hundreds of outcomes the data decide; it keeps the fit finite when the outcomes
# are separable by the signals. (Per outcome, as the loss is a mean.)
DEFAULT_L2: Final = 1e-3
FOLDS: Final = 5
_TOL: Final = 1e-10
_MAX_ITER: Final = 200


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


# Every way of holding some of the k coefficients at 0 in a Newton step: 2^k sets, k = 4.
def _subsets(k: int) -> list[BoolArray]:
    return [np.array([(m >> j) & 1 == 1 for j in range(k)]) for m in range(2**k)]


def _newton_direction(
    th: FloatArray, g: FloatArray, h: FloatArray, bounded: BoolArray, subsets: list[BoolArray]
) -> FloatArray:
    """argmin over d of g.d + d'Hd/2 subject to th + d >= 0 on the bounded coordinates. The
    quadratic is strictly convex, so its minimum is the unconstrained minimum on one face of the
    box: try every face (a set of coefficients held at 0) and keep the best feasible one."""
    best, best_q = np.zeros_like(th), 0.0
    for held in subsets:
        at0 = np.zeros(th.size, dtype=np.bool_)
        at0[bounded] = held
        free = ~at0
        d = np.zeros_like(th)
        d[at0] = -th[at0]
        rhs = g[free] + h[np.ix_(free, at0)] @ d[at0]
        try:
            d[free] = -np.linalg.solve(h[np.ix_(free, free)], rhs)
        except np.linalg.LinAlgError:
            continue
        if np.any(th[bounded] + d[bounded] < 0):
            continue
        q = float(g @ d + 0.5 * d @ h @ d)
        if q < best_q:
            best, best_q = d, q
    return best


def fit_nonnegative_logistic(
    x: FloatArray, y: BoolArray, l2: float = DEFAULT_L2
) -> tuple[float, FloatArray]:
    """(intercept, coefficients >= 0) minimising the penalised mean log loss above. `x` is
    (n, k), `y` (n,) bool with both kinds present; l2 > 0."""
    n, k = x.shape
    yf = y.astype(np.float64)
    mean_y = float(yf.mean()) if n else 0.0
    if not 0.0 < mean_y < 1.0:
        raise ValueError("the fit needs outcomes of both kinds")
    if not l2 > 0:
        raise ValueError("l2 must be > 0")
    a = np.empty((n, k + 1))
    a[:, 0] = 1.0
    a[:, 1:] = x
    pen = np.full(k + 1, l2)
    pen[0] = 0.0
    bounded = np.ones(k + 1, dtype=np.bool_)
    bounded[0] = False
    subsets = _subsets(k)

    def objective(th: FloatArray) -> float:
        z = a @ th
        return float(np.mean(np.logaddexp(0.0, z) - yf * z) + 0.5 * np.dot(pen * th, th))

    th = np.zeros(k + 1)
    th[0] = np.log(mean_y / (1 - mean_y))
    f = objective(th)
    for _ in range(_MAX_ITER):
        p = _sigmoid(a @ th)
        g = a.T @ (p - yf) / n + pen * th
        # Optimal when the projected gradient step does not move: th = max(th - g, 0).
        if np.max(np.abs(th - np.where(bounded, np.maximum(th - g, 0.0), th - g))) <= _TOL:
            break
        h = (a * (p * (1 - p))[:, None]).T @ a / n + np.diag(pen)
        d = _newton_direction(th, g, h, bounded, subsets)
        slope = float(g @ d)  # < 0 for any d != 0 the subproblem returns
        # Near the optimum the decrease a step brings is below the rounding of the objective
        # (~1e-16): a change within that noise is accepted, so the last Newton steps are full.
        noise = 8 * np.finfo(np.float64).eps * max(1.0, abs(f))
        step = 1.0
        while step > 1e-12:
            new = th + step * d  # feasible: th and th + d are
            new[bounded] = np.maximum(new[bounded], 0.0)  # exact zeros despite rounding
            f_new = objective(new)
            if f_new <= f + 1e-4 * step * slope + noise:
                break
            step *= 0.5
        else:
            break  # no decrease within floating point: as optimal as it gets
        if np.array_equal(new, th):
            break
        th, f = new, f_new
    return float(th[0]), th[1:].copy()


def weights_from_coefficients(beta: FloatArray) -> FloatArray:
    """Coefficients scaled to sum 100; equal weights when they are all 0."""
    total = float(beta.sum())
    if total <= 0.0:
        return np.full(beta.shape, 100.0 / beta.size)
    out: FloatArray = beta * (100.0 / total)
    return out


def suggested_weights(x: FloatArray, y: BoolArray, l2: float = DEFAULT_L2) -> FloatArray:
    """Weights (summing to 100) from the fit; equal weights with one kind of outcome or none."""
    if y.size == 0 or y.all() or not y.any():
        return np.full(x.shape[1], 100.0 / x.shape[1])
    return weights_from_coefficients(fit_nonnegative_logistic(x, y, l2)[1])


def fold_of(y: BoolArray, seed: int, folds: int = FOLDS) -> npt.NDArray[np.int64]:
    """Fold (0..folds-1) of each outcome, stratified: the retained in a random order (seeded),
    then the others, are dealt to the folds in turn, so every fold has its share of both."""
    rng = np.random.default_rng(seed)
    out = np.empty(y.size, dtype=np.int64)
    dealt = 0
    for members in (np.flatnonzero(y), np.flatnonzero(~y)):
        order = rng.permutation(members)
        out[order] = (dealt + np.arange(order.size)) % folds
        dealt += order.size
    return out


def cross_validated_auc(
    x: FloatArray,
    y: BoolArray,
    configured: FloatArray,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    folds: int = FOLDS,
) -> tuple[float | None, float | None]:
    """(configured, suggested) cross-validated AUCs, each over the held-out scores of all folds
    pooled (scores are on one 0..100 scale as every fold's weights sum to 100). Configured:
    x @ configured, nothing fitted, so it equals the AUC of those scores over all outcomes.
    Suggested: for each fold, weights fitted on the other folds score the fold. None for both
    when all outcomes are of one kind."""
    if y.size == 0 or y.all() or not y.any():
        return None, None
    fold = fold_of(y, seed, folds)
    held_out = np.empty(y.size)
    for f in range(folds):
        test = fold == f
        if test.any():
            held_out[test] = x[test] @ suggested_weights(x[~test], y[~test], l2)
    return auc(x @ configured, y), auc(held_out, y)
