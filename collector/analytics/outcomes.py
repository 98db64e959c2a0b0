"""Outcomes report (specs/outcomes.md): is the health score predictive of retention?

Input: one `ScoredOutcome` per outcome: `retained` (the outcome was `renewed` or `expanded`),
the entity's health `score` (0..100) and its four `signals` (frequency, breadth, key_actions,
depth, each 0..1), all over the period `score_period(outcome day)` and computed as pes.md's
entity health with the configured weights and targets, over the whole fleet. The caller computes
them (this module needs no other collector module): an entity with no activity in the period
is given score 0 and every signal 0 (`ScoredOutcome.inactive`). Filters and segments narrow the
items the caller passes.

`report` returns (all rates are retained / n, intervals are [low, high] lists, 95%):
- `n`: the outcomes.
- `bands`: per band [lo, hi) (the last one includes 100) `lo, hi, n, retained, rate,
  rate_ci` (Wilson); rate and rate_ci None for an empty band. The edges must start at 0, end at
  100 and increase strictly (at least 2 edges), so every outcome is in exactly one band.
- `top_quartile`: `threshold` = 75th percentile of the scores (linear interpolation, numpy's
  default), `n, rate` of the outcomes with score >= threshold (ties included), `rest_n,
  rest_rate` of the others, `difference` = rate - rest_rate and `difference_ci` (Newcombe's
  hybrid score interval, method 10). With no outcomes the threshold and rates are None; when
  the rest is empty (every score at the threshold, e.g. all scores equal or n = 1) rest_rate,
  difference and difference_ci are None.
- `auc`: of the score as a predictor of retained (Mann-Whitney, ties count one half); None when
  all outcomes are of one kind (or there are none). `signal_auc`: the same per signal.
- `weights`: `configured` and `suggested` (outcomes_weights: non-negative, summing to 100, from
  an L2-regularised logistic regression on all outcomes; None when all outcomes are of one kind),
  and `cv_auc_configured`, `cv_auc_suggested`: 5-fold cross-validated AUCs (stratified folds
  drawn with `seed`, held-out scores pooled over the folds; None when all outcomes are of one
  kind). cv_auc_configured scores each outcome as configured weights . signals, so it equals
  `auc` when the scores were computed with those weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from collector.analytics.outcomes_stats import auc, newcombe, wilson
from collector.analytics.outcomes_weights import (
    DEFAULT_L2,
    FloatArray,
    cross_validated_auc,
    suggested_weights,
)

SIGNALS: Final = ("frequency", "breadth", "key_actions", "depth")
# pes.md's default weights (health.py's HealthParams.weights, in SIGNALS order); read-only.
DEFAULT_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {"frequency": 25.0, "breadth": 35.0, "key_actions": 25.0, "depth": 15.0}
)
DEFAULT_BANDS: Final = (0.0, 30.0, 60.0, 70.0, 100.0)
DEFAULT_LEAD_DAYS: Final = 30
DEFAULT_LENGTH_DAYS: Final = 30
# Scores are sums of floats: tolerate this much rounding beyond 0 and 100.
_SCORE_SLACK: Final = 1e-9


def score_period(
    outcome_day: date, lead: int = DEFAULT_LEAD_DAYS, length: int = DEFAULT_LENGTH_DAYS
) -> tuple[date, date]:
    """(start, end), both included, of P = [t - lead - length + 1, t - lead] for an outcome on
    day t. lead >= 0 (the period never reaches past the outcome day), length >= 1."""
    if lead < 0:
        raise ValueError("lead must be >= 0 days")
    if length < 1:
        raise ValueError("length must be >= 1 day")
    end = outcome_day - timedelta(days=lead)
    return end - timedelta(days=length - 1), end


def _zero_signals() -> dict[str, float]:
    return dict.fromkeys(SIGNALS, 0.0)


@dataclass(frozen=True, slots=True)
class ScoredOutcome:
    """One outcome with the entity's health over its score period."""

    retained: bool
    score: float
    signals: Mapping[str, float] = field(default_factory=_zero_signals)

    @classmethod
    def inactive(cls, retained: bool) -> ScoredOutcome:
        """An entity with no activity in the score period: score 0, every signal 0."""
        return cls(retained, 0.0, _zero_signals())

    @classmethod
    def from_health_row(cls, retained: bool, row: Mapping[str, Any] | None) -> ScoredOutcome:
        """From one row of entity health over the score period (`health` and the four signals,
        as health.py's rows have them), or None for an entity not active in it."""
        if row is None:
            return cls.inactive(retained)
        return cls(retained, row["health"], {name: row[name] for name in SIGNALS})


def check_bands(bands: Sequence[float]) -> tuple[float, ...]:
    """The edges as floats, or ValueError unless they are at least 2, finite, strictly
    increasing, start at 0 and end at 100."""
    edges = tuple(float(b) for b in bands)
    if len(edges) < 2:
        raise ValueError("bands need at least 2 edges")
    if not all(math.isfinite(b) for b in edges):
        raise ValueError("band edges must be finite")
    if any(lo >= hi for lo, hi in pairwise(edges)):
        raise ValueError("band edges must increase strictly")
    if edges[0] != 0.0 or edges[-1] != 100.0:
        raise ValueError("band edges must start at 0 and end at 100")
    return edges


def check_weights(weights: Mapping[str, float]) -> FloatArray:
    """The weights in SIGNALS order, or ValueError unless they are exactly the four signals,
    finite, >= 0 and sum to 100 (within 1e-6)."""
    if set(weights) != set(SIGNALS):
        raise ValueError(f"weights must name exactly {', '.join(SIGNALS)}")
    w = np.array([float(weights[s]) for s in SIGNALS])
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    if abs(float(w.sum()) - 100.0) > 1e-6:
        raise ValueError("weights must sum to 100")
    return w


def _rate(k: int, n: int) -> tuple[float | None, list[float] | None]:
    ci = wilson(k, n)
    return (k / n, list(ci)) if ci is not None else (None, None)


def _bands(edges: tuple[float, ...], s: FloatArray, y: npt.NDArray[np.bool_]) -> list[Any]:
    last = len(edges) - 2
    # Band i holds edges[i] <= score < edges[i + 1]; 100 (and rounding just past it) goes to
    # the last band, rounding just below 0 to the first.
    band = np.clip(np.searchsorted(np.asarray(edges), s, side="right") - 1, 0, last)
    n = np.bincount(band, minlength=last + 1)
    kept = np.bincount(band, weights=y.astype(np.float64), minlength=last + 1)
    out = []
    for i in range(last + 1):
        rate, ci = _rate(int(kept[i]), int(n[i]))
        out.append(
            {
                "lo": edges[i],
                "hi": edges[i + 1],
                "n": int(n[i]),
                "retained": int(kept[i]),
                "rate": rate,
                "rate_ci": ci,
            }
        )
    return out


def _top_quartile(s: FloatArray, y: npt.NDArray[np.bool_]) -> dict[str, Any]:
    if s.size == 0:
        return {
            "threshold": None,
            "n": 0,
            "rate": None,
            "rest_n": 0,
            "rest_rate": None,
            "difference": None,
            "difference_ci": None,
        }
    threshold = float(np.percentile(s, 75))  # method="linear", numpy's default
    top = s >= threshold
    n_top, k_top = int(top.sum()), int(np.count_nonzero(y & top))
    n_rest, k_rest = s.size - n_top, int(np.count_nonzero(y & ~top))
    rate, _ = _rate(k_top, n_top)
    rest_rate, _ = _rate(k_rest, n_rest)
    ci = newcombe(k_top, n_top, k_rest, n_rest)
    return {
        "threshold": threshold,
        "n": n_top,
        "rate": rate,
        "rest_n": n_rest,
        "rest_rate": rest_rate,
        "difference": None if rate is None or rest_rate is None else rate - rest_rate,
        "difference_ci": None if ci is None else list(ci),
    }


def report_arrays(
    retained: npt.ArrayLike,
    scores: npt.ArrayLike,
    signals: npt.ArrayLike,
    bands: Sequence[float] = DEFAULT_BANDS,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    seed: int = 0,
) -> dict[str, Any]:
    """`report` over arrays: retained (n,) bool, scores (n,) in 0..100, signals (n, 4) in 0..1
    with columns in SIGNALS order."""
    edges = check_bands(bands)
    configured = check_weights(weights)
    y = np.asarray(retained)
    if y.dtype != np.bool_:
        raise ValueError("retained must be booleans")
    s = np.asarray(scores, dtype=np.float64)
    x = np.asarray(signals, dtype=np.float64)
    if x.size == 0:
        x = x.reshape(0, len(SIGNALS))
    if y.ndim != 1 or s.shape != y.shape or x.shape != (y.size, len(SIGNALS)):
        raise ValueError("retained, scores and signals must describe the same outcomes")
    if not np.all(np.isfinite(s)) or np.any(s < -_SCORE_SLACK) or np.any(s > 100 + _SCORE_SLACK):
        raise ValueError("scores must be finite numbers in 0..100")
    if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x > 1):
        raise ValueError("signals must be finite numbers in 0..1")
    one_kind = y.size == 0 or bool(y.all()) or not y.any()
    cv_configured, cv_suggested = cross_validated_auc(x, y, configured, seed, DEFAULT_L2)
    suggested = None if one_kind else suggested_weights(x, y, DEFAULT_L2)
    return {
        "n": int(y.size),
        "bands": _bands(edges, s, y),
        "top_quartile": _top_quartile(s, y),
        "auc": auc(s, y),
        "signal_auc": {name: auc(x[:, j], y) for j, name in enumerate(SIGNALS)},
        "weights": {
            "configured": {name: float(configured[j]) for j, name in enumerate(SIGNALS)},
            "suggested": None
            if suggested is None
            else {name: float(suggested[j]) for j, name in enumerate(SIGNALS)},
            "cv_auc_configured": cv_configured,
            "cv_auc_suggested": cv_suggested,
        },
    }


def _is_number(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def report(
    items: Iterable[ScoredOutcome],
    bands: Sequence[float] = DEFAULT_BANDS,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    seed: int = 0,
) -> dict[str, Any]:
    """The outcomes report (see the module's docstring) over `items`."""
    retained: list[bool] = []
    scores: list[float] = []
    signals: list[list[float]] = []
    for i, item in enumerate(items):
        if not isinstance(item.retained, bool | np.bool_):
            raise ValueError(f"outcome {i}: retained must be a bool")
        if set(item.signals) != set(SIGNALS):
            raise ValueError(f"outcome {i}: signals must be exactly {', '.join(SIGNALS)}")
        values = [item.score, *(item.signals[name] for name in SIGNALS)]
        if not all(_is_number(v) for v in values):
            raise ValueError(f"outcome {i}: score and signals must be numbers")
        retained.append(bool(item.retained))
        scores.append(float(item.score))
        signals.append([float(item.signals[name]) for name in SIGNALS])
    return report_arrays(
        np.array(retained, dtype=np.bool_),
        np.array(scores, dtype=np.float64),
        np.array(signals, dtype=np.float64).reshape(-1, len(SIGNALS)),
        bands,
        weights,
        seed,
    )
