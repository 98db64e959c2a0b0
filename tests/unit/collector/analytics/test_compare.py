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
    pes_b, pes_a = ref[("2.1",)].pes, ref[("2.0",)].pes
    assert pes_b is not None and pes_a is not None
    assert delta == pytest.approx(pes_b - pes_a)
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


def churn_fleet(rng: random.Random, n: int, fw: str) -> list[Event]:
    """Devices active throughout, only before P (dropped) or only in P (new): every metric,
    growth included, has a spread."""
    out = []
    for k in range(n):
        kind = rng.choice(["stable", "new", "dropped", "stable"])
        days = {"stable": range(40), "new": range(26, 40), "dropped": range(26)}[kind]
        for d in days:  # day 26 is P's first, 2026-03-08
            day = date(2026, 2, 10) + timedelta(days=d)
            if rng.random() < 0.6:
                out.append(event(f"{fw}-{k}", day, "session_start", None, fw))
                out += [
                    event(f"{fw}-{k}", day, "feature_use", f, fw)
                    for f in ("a", "b")
                    if rng.random() < 0.3
                ]
    return out


def test_every_interval_holds_its_point_value_and_stays_in_range() -> None:
    # 120 devices with churn: each metric's resampling distribution is smooth and unskewed
    # enough that its 95% interval holds the value it is the interval of, for the
    # configurations and for their difference; every metric is a percentage.
    rng = random.Random(5)
    events = churn_fleet(rng, 60, "2.0") + churn_fleet(rng, 60, "2.1")
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=300, seed=1)
    for (config, metric), r in rows.items():
        assert 0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 100, (config, metric, r)
        assert r["ci_high"] - r["ci_low"] > 1, (config, metric, r)  # real spread, not a point
        if config == "b":
            assert r["delta_low"] <= r["delta"] <= r["delta_high"], (metric, r)
    for metric in ("pes", "adoption", "stickiness", "growth"):  # the rows say what they are
        assert rows[("b", metric)]["definition"] == "firmware_version:2.1"


def steady(fw: str, n: int, days: range) -> list[Event]:
    return [
        event(f"{fw}-{k}", date(2026, 2, 10) + timedelta(days=d), "session_start", None, fw)
        for k in range(n)
        for d in days
    ]


def test_growth_without_churn_is_50_and_without_drops_is_100_in_every_resample() -> None:
    # specs/pes.md: growth is 50 when nobody is new, recovered or dropped; 100 when nobody
    # dropped. Whatever is drawn, so are the interval's ends.
    events = steady("2.0", 10, range(40)) + steady("2.1", 10, range(26, 40))
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=100)
    a, b = rows[("a", "growth")], rows[("b", "growth")]
    assert (a["value"], a["ci_low"], a["ci_high"]) == (50, 50, 50)
    assert (b["value"], b["ci_low"], b["ci_high"]) == (100, 100, 100)
    assert (b["delta"], b["delta_low"], b["delta_high"]) == (50, 50, 50)


def test_a_one_day_period_has_a_stickiness_interval() -> None:
    # One day in P: the stickiness of a resample is that day's ratio (a mean over one day).
    one_day = PesParams(date(2026, 3, 21), date(2026, 3, 21), core_features={"*": ["a", "b"]})
    rng = random.Random(4)
    events = fleet(rng, 30, "2.0", 0.6, 0.5) + fleet(rng, 30, "2.1", 0.6, 0.5)
    cube = state_from_events(events).view(*needed_range(one_day))
    configs = [parse_config("a", "firmware_version:2.0"), parse_config("b", "firmware_version:2.1")]
    rows = compare(cube, configs, one_day, "device", baseline="a", resamples=200)
    for r in rows:
        if r["metric"] == "stickiness":
            assert r["ci_low"] <= r["value"] <= r["ci_high"], r


def test_configurations_nobody_matches_have_no_values() -> None:
    events = steady("2.0", 3, range(40))
    rows = run(events, "firmware_version:8.8", "firmware_version:9.9", resamples=50)
    for r in rows.values():
        assert r["value"] is r["ci_low"] is r["ci_high"] is r["delta"] is None, r
        assert r["delta_low"] is r["delta_high"] is r["significant"] is None, r
        assert (r["active"], r["entities"], r["low_sample"]) == (0, 0, True)


def test_resamples_without_the_configuration_leave_growth_undefined() -> None:
    events = steady("2.0", 10, range(40))
    rows = run(events, "firmware_version:2.0", "firmware_version:9.9", resamples=50)
    r = rows[("b", "growth")]
    assert r["value"] is None
    assert (r["ci_low"], r["ci_high"], r["delta_low"], r["delta_high"]) == (None,) * 4
    # One device, new in P: growth 100 in every resample that draws it.
    events = steady("2.0", 10, range(40)) + steady("2.1", 1, range(26, 40))
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=200)
    r = rows[("b", "growth")]
    assert (r["value"], r["ci_low"], r["ci_high"]) == (100, 100, 100)


def test_the_fleets_features_define_an_unconfigured_core_set() -> None:
    # Without configured core features a device type's core set is the fleet's features in P
    # (pes.md), which the report layer passes for the whole fleet: a configuration's adoption
    # is over those, not over the features its own devices happened to use.
    params = PesParams(date(2026, 3, 8), date(2026, 3, 21))
    rng = random.Random(6)
    events = fleet(rng, 20, "2.0", 0.5, 0.5) + fleet(rng, 20, "2.1", 0.5, 0.5)
    cube = state_from_events(events).view(*needed_range(params))
    configs = [parse_config("a", "firmware_version:2.0"), parse_config("b", "firmware_version:2.1")]

    def adoption(fleet: dict[str, set[str]] | None) -> float:
        rows = compare(cube, configs, params, "device", baseline="a", resamples=50, fleet=fleet)
        value = next(r["value"] for r in rows if r["config"] == "a" and r["metric"] == "adoption")
        assert isinstance(value, float), value  # devices used core features: a share, not None
        return value

    own = adoption(None)
    wider = adoption({"press-x": {"a", "b", "c", "d"}})  # c, d: used elsewhere in the fleet
    assert wider == pytest.approx(own / 2)


def test_one_device_per_configuration_gives_point_intervals() -> None:
    # Each configuration is one device: a resample that draws it has exactly its values (a
    # count of draws scales numerator and denominator alike), one that does not is left out.
    # So every interval, the difference's too, is the point itself.
    days = [date(2026, 3, 8) + timedelta(days=k) for k in range(0, 14, 2)]
    events = [event("x", d, "session_start", None, "2.0") for d in days]
    events += [event("x", days[0], "feature_use", "a", "2.0")]  # adoption 50
    events += [event("y", d, "session_start", None, "2.1") for d in days[:3]]
    events += [event("y", d, "feature_use", f, "2.1") for d in days[:1] for f in ("a", "b")]
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=200)
    for (config, metric), r in rows.items():
        assert r["ci_low"] == pytest.approx(r["value"]) == r["ci_high"], (config, metric)
        if config == "b":
            assert r["delta_low"] == pytest.approx(r["delta"]), metric
            assert r["delta_high"] == pytest.approx(r["delta"]), metric
    assert rows[("b", "adoption")]["delta"] == pytest.approx(50)


def test_configuration_text_by_hand() -> None:
    # A value may hold colons (only the first one splits); empty parts are skipped anywhere.
    c = parse_config("a", "device_id:gw:1,,firmware_version:2.1,")
    assert c.conditions == (("device_id", "gw:1"), ("firmware_version", "2.1"))
    with pytest.raises(ValueError, match=r"configuration b is empty"):
        parse_config("b", " , ")
    # The error names the configuration, quotes at most 80 characters of it, and says what
    # is allowed.
    text = "colour:" + "r" * 200
    with pytest.raises(ValueError) as err:
        parse_config("c", text)
    message = str(err.value)
    assert message.startswith(f"configuration c={text[:80]!r}: use attribute:value pairs")
    assert "r" * 81 not in message
    assert "device_type, firmware_version, account_id, device_id or label:<key>" in message


def test_unknown_baseline_is_named() -> None:
    cube = state_from_events(steady("2.0", 2, range(40))).view(*needed_range(P))
    with pytest.raises(ValueError, match=r"baseline 'z' is not one of the configurations"):
        compare(cube, [parse_config("a", "firmware_version:2.0")], P, "device", baseline="z")


def test_low_sample_is_fewer_active_entities_than_the_threshold() -> None:
    events = steady("2.0", 5, range(40)) + steady("2.1", 4, range(40))
    configs = [parse_config("a", "firmware_version:2.0"), parse_config("b", "firmware_version:2.1")]
    params = PesParams(P.start, P.end, core_features={"*": ["a"]}, low_sample_threshold=5)
    cube = state_from_events(events).view(*needed_range(params))
    rows = compare(cube, configs, params, "device", baseline="a", resamples=20)
    flags = {(r["config"], r["active"], r["low_sample"]) for r in rows}
    assert flags == {("a", 5, False), ("b", 4, True)}


def test_entities_dropped_before_the_stickiness_window_still_count_for_growth() -> None:
    # DAU/WAU: a device last active 10 days before P has no stickiness denominator in P, but
    # it is dropped, and growth counts it in every resample that draws it.
    params = PesParams(P.start, P.end, stickiness="dau_wau", core_features={"*": ["a"]})
    events = steady("2.0", 6, range(40))  # active throughout
    events += steady("2.0x", 6, range(14, 17))  # only 2026-02-24..26, then gone
    events = [e | {"firmware_version": "2.0"} for e in events]
    cube = state_from_events(events).view(*needed_range(params))
    rows = compare(cube, [parse_config("a", "firmware_version:2.0")], params, "device",
                   baseline="a", resamples=200)  # fmt: skip
    growth = next(r for r in rows if r["metric"] == "growth")
    assert growth["value"] == 0  # nobody new or recovered, six dropped
    assert (growth["ci_low"], growth["ci_high"]) == (0, 0)


def test_a_small_difference_whose_interval_excludes_zero_is_significant() -> None:
    # One device per configuration: every interval is its point (see above). 101 of 200 core
    # features against 100 of 200: adoption 50.5 against 50, a difference of half a point
    # whose interval [0.5, 0.5] excludes 0.
    features = [f"f{i}" for i in range(200)]
    params = PesParams(P.start, P.end, core_features={"*": features})
    day = date(2026, 3, 9)
    events = [event("x", day, "feature_use", f, "2.1") for f in features[:101]]
    events += [event("y", day, "feature_use", f, "2.0") for f in features[:100]]
    cube = state_from_events(events).view(*needed_range(params))
    configs = [parse_config("a", "firmware_version:2.0"), parse_config("b", "firmware_version:2.1")]
    rows = compare(cube, configs, params, "device", baseline="a", resamples=100)
    (r,) = [r for r in rows if r["config"] == "b" and r["metric"] == "adoption"]
    assert r["delta_low"] == pytest.approx(0.5) and r["delta_high"] == pytest.approx(0.5)
    assert r["significant"] is True


def test_one_retained_entity_has_growth_50_in_every_resample() -> None:
    # One device per configuration, active every day of P' and P: no mover, so growth is 50
    # (pes.md), and every resample (that one device drawn once) says 50 too, not "undefined".
    days = [date(2026, 2, 10) + timedelta(days=d) for d in range(40)]
    events = [event(f"{fw}-0", d, "session_start", None, fw) for fw in ("2.0", "2.1") for d in days]
    rows = run(events, "firmware_version:2.0", "firmware_version:2.1", resamples=50, seed=1)
    for name in ("a", "b"):
        g = rows[(name, "growth")]
        assert (g["value"], g["ci_low"], g["ci_high"]) == (50.0, 50.0, 50.0)
    assert (rows[("b", "growth")]["delta_low"], rows[("b", "growth")]["delta_high"]) == (0.0, 0.0)
