"""Outcomes report (specs/outcomes.md): the score period, a small report by hand, the spec's
edge cases for bands and the top quartile, agreement with a plain reading of the spec, and the
refusal of bad parameters. The statistics are in test_outcomes_stats.py, the weight fit in
test_outcomes_weights.py."""

from __future__ import annotations

import json
import math
from datetime import date
from itertools import pairwise
from typing import NamedTuple

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
from collector.analytics.outcomes_stats import newcombe, wilson
from tests.kits.outcomes import brute_force_auc, item

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


def test_tiny_reports_do_not_break_the_cross_validation() -> None:
    for rows in ([(True, 10), (False, 20)], [(True, 10), (False, 20), (True, 30)]):
        r = report([item(k, s) for k, s in rows])
        assert r["weights"]["cv_auc_configured"] == r["auc"]
        assert r["weights"]["cv_auc_suggested"] is not None
