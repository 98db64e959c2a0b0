"""Compare with bootstrap CIs: point values, determinism, and that the CI separates a real
difference from noise."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from collector.analytics.compare import _holm, compare, parse_config
from collector.analytics.cube import needed_range
from collector.analytics.params import PesParams
from tests.kits.analytics import Event, random_fleet, reference_pes, state_from_events

P = PesParams(date(2026, 3, 8), date(2026, 3, 21), core_features={"*": ["a", "b"]})


def event(device: str, day: date, kind: str, feature: str | None, fw: str) -> Event:
    ts = datetime(day.year, day.month, day.day, 12).isoformat() + "Z"
    return {
        "id": f"{device}-{day}-{kind}-{feature}",
        "device_id": device,
        "account_id": "acme",
        "device_type": "press-x",
        "firmware_version": fw,
        "kind": kind,
        "feature": feature,
        "ts": ts,
    }


def fleet(rng: random.Random, n: int, fw: str, p_day: float, p_feature: float) -> list[Event]:
    out = []
    for k in range(n):
        for d in range(40):
            day = date(2026, 2, 10) + timedelta(days=d)
            if rng.random() < p_day:
                out.append(event(f"{fw}-{k}", day, "session_start", None, fw))
                out += [
                    event(f"{fw}-{k}", day, "feature_use", f, fw)
                    for f in ("a", "b")
                    if rng.random() < p_feature
                ]
    return out


def run(events: list[Event], a: str, b: str, **kw: Any) -> dict[tuple[str, str], dict[str, Any]]:
    cube = state_from_events(events).view(*needed_range(P))
    rows = compare(
        cube, [parse_config("a", a), parse_config("b", b)], P, "device", baseline="a", **kw
    )
    return {(r["config"], r["metric"]): r for r in rows}


def test_parse_config() -> None:
    c = parse_config("a", "device_type:press-x, label:site:north:1,firmware_version:2.1")
    assert c.conditions == (
        ("device_type", "press-x"),
        ("label:site", "north:1"),
        ("firmware_version", "2.1"),
    )
    assert c.definition == "device_type:press-x,label:site:north:1,firmware_version:2.1"
    for bad in ("", "firmware_version", "colour:red", "label::x", "firmware_version:"):
        with pytest.raises(ValueError):
            parse_config("a", bad)


def test_point_values_are_the_segment_rows_and_seed_fixes_the_interval() -> None:
    rng = random.Random(3)
    events = fleet(rng, 20, "2.0", 0.5, 0.5) + fleet(rng, 20, "2.1", 0.5, 0.5)
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=200, seed=9)
    ref = {r.segment: r for r in reference_pes(events, ["firmware_version"], "device", P)}
    for name, fw in (("a", "2.0"), ("b", "2.1")):
        for metric in ("pes", "adoption", "stickiness", "growth"):
            assert rows[(name, metric)]["value"] == pytest.approx(
                getattr(ref[(fw,)], metric), abs=1e-9, rel=0
            )
            assert rows[(name, metric)]["active"] == ref[(fw,)].active
    delta = rows[("b", "pes")]["delta"]
    assert delta == pytest.approx(ref[("2.1",)].pes - ref[("2.0",)].pes)  # type: ignore[operator]
    assert rows[("a", "pes")]["delta"] is None
    again = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=200, seed=9)
    assert again == rows
    other = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=200, seed=10)
    assert other[("b", "pes")]["delta_low"] != rows[("b", "pes")]["delta_low"]
    for r in rows.values():
        if r["ci_low"] is not None:
            assert r["ci_low"] <= r["value"] + 1e-9 or r["metric"] == "growth"


def test_a_large_true_difference_is_significant() -> None:
    # 2.1 devices are active 90% of days and use both core features; 2.0 devices 20%, rarely.
    rng = random.Random(1)
    events = fleet(rng, 40, "2.0", 0.2, 0.1) + fleet(rng, 40, "2.1", 0.9, 0.9)
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1")
    for metric in ("pes", "adoption", "stickiness"):
        r = rows[("b", metric)]
        assert r["significant"] and r["delta_low"] > 0, r


def test_identical_configurations_have_a_ci_containing_zero() -> None:
    rng = random.Random(2)
    events = fleet(rng, 40, "2.0", 0.5, 0.5) + fleet(rng, 40, "2.1", 0.5, 0.5)
    same = run(events, "firmware_version:2.0", "device_type:press-x,firmware_version:2.0")
    for metric in ("pes", "adoption", "stickiness", "growth"):
        r = same[("b", metric)]
        assert (r["delta"], r["delta_low"], r["delta_high"], r["significant"]) == (0, 0, 0, False)
    # Two disjoint fleets drawn from one distribution: the difference is noise.
    alike = run(events, "firmware_version:2.0", "firmware_version:2.1")
    for metric in ("pes", "adoption", "stickiness"):
        r = alike[("b", metric)]
        assert r["delta_low"] <= 0 <= r["delta_high"] and not r["significant"], r


def test_an_entity_in_both_configurations_is_drawn_for_both() -> None:
    # One device upgraded mid-period: its days before count for 2.0, after for 2.1.
    events = [
        event(
            "d1",
            date(2026, 3, 8) + timedelta(days=k),
            "session_start",
            None,
            "2.0" if k < 7 else "2.1",
        )
        for k in range(14)
    ]
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=100)
    assert rows[("a", "growth")]["entities"] == rows[("b", "growth")]["entities"] == 1
    # With a single entity every resample is the data itself: zero-width intervals.
    r = rows[("b", "stickiness")]
    assert r["delta_low"] == r["delta_high"] == pytest.approx(r["delta"])


def test_random_fleets_point_values_match_reference() -> None:
    rng = random.Random(11)
    events = random_fleet(rng, devices=12)
    params = PesParams(date(2026, 2, 1), date(2026, 2, 21))
    cube = state_from_events(events).view(*needed_range(params))
    rows = compare(
        cube,
        [parse_config("a", "firmware_version:1.0"), parse_config("b", "firmware_version:1.1")],
        params,
        "account",
        baseline="b",
        resamples=100,
    )
    ref = {r.segment: r for r in reference_pes(events, ["firmware_version"], "account", params)}
    for r in rows:
        fw = "1.0" if r["config"] == "a" else "1.1"
        want = getattr(ref[(fw,)], r["metric"]) if (fw,) in ref else None
        assert r["value"] == (pytest.approx(want) if want is not None else None)


def test_a_large_true_difference_survives_holm() -> None:
    rng = random.Random(1)
    events = fleet(rng, 40, "2.0", 0.2, 0.1) + fleet(rng, 40, "2.1", 0.9, 0.9)
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1")
    assert rows[("a", "pes")]["significant_holm"] is None  # the baseline has no delta
    for metric in ("pes", "adoption", "stickiness"):
        assert rows[("b", metric)]["significant_holm"] is True


def _draws(at_or_below_zero: int, n: int = 1000) -> np.ndarray:
    """n bootstrap deltas, `at_or_below_zero` of them <= 0: p = 2 * that share (if < half)."""
    return np.array([-1.0] * at_or_below_zero + [1.0] * (n - at_or_below_zero))


@pytest.mark.parametrize(
    ("below", "want"),
    [
        # p = 0, 0.04, 0.5: 0 <= 0.05/3 is rejected, then 0.04 > 0.05/2 stops the procedure.
        ((0, 20, 250), [True, False, False]),
        # p = 0, 0.04: 0 <= 0.05/2, then 0.04 <= 0.05/1: both stay.
        ((0, 20), [True, True]),
    ],
)
def test_holm_by_hand(below: tuple[int, ...], want: list[bool]) -> None:
    rows: list[dict[str, Any]] = [{"significant": None}]  # a baseline row: outside the family
    rows += [{"significant": True} for _ in below]
    _holm(rows, [None, *(_draws(b) for b in below)])
    assert rows[0]["significant_holm"] is None
    assert [r["significant_holm"] for r in rows[1:]] == want
    # Not significant before correction: never significant after it.
    rows = [{"significant": False}]
    _holm(rows, [_draws(0)])
    assert rows[0]["significant_holm"] is False
