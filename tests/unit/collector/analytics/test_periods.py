"""Trend, overview, health and funnel against hand computations and the brute-force reference."""

from __future__ import annotations

import math
import random
from datetime import date, datetime
from typing import Any

import pytest

from collector.analytics.cube import members
from collector.analytics.funnel import funnel, funnel_range
from collector.analytics.health import HealthParams, entity_health, health_range
from collector.analytics.overview import lifecycle_row, series
from collector.analytics.params import PesParams
from collector.analytics.trend import for_period, periods, trend, trend_range
from tests.kits.analytics import (
    Event,
    activity_of,
    assert_same,
    entity_of,
    random_fleet,
    random_params,
    reference_funnel,
    reference_health,
    reference_pes,
    reference_series,
    state_from_events,
)


def ev(
    device: str, day: date, kind: str = "session_start", feature: str | None = None, **extra: Any
) -> Event:
    ts = datetime(day.year, day.month, day.day, 12).isoformat() + "Z"
    return {
        "id": f"{device}-{day}-{kind}-{feature}-{len(extra)}",
        "device_id": device,
        "account_id": extra.pop("account", "acme"),
        "device_type": extra.pop("dtype", "press-x"),
        "firmware_version": "1.0",
        "kind": kind,
        "feature": feature,
        "ts": ts,
        **extra,
    }


def test_periods_are_calendar_weeks_and_months() -> None:
    # 2026-03-04 is a Wednesday: the first week starts on Monday 03-02; the last is cut at end.
    assert periods(date(2026, 3, 4), date(2026, 3, 18), "week") == [
        (date(2026, 3, 2), date(2026, 3, 8)),
        (date(2026, 3, 9), date(2026, 3, 15)),
        (date(2026, 3, 16), date(2026, 3, 18)),
    ]
    assert periods(date(2026, 1, 31), date(2026, 3, 1), "month") == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 1)),
    ]
    with pytest.raises(ValueError):
        periods(date(2026, 3, 2), date(2026, 3, 1), "week")


@pytest.mark.parametrize("seed", range(4))
def test_trend_is_the_pes_of_each_period(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    template = random_params(rng, "dau_wau")
    spans = periods(date(2026, 1, 20), date(2026, 2, 27), rng.choice(["week", "month"]))
    state = state_from_events(events)
    cube = state.view(*trend_range(spans, template))
    got = trend(cube, members(cube, ["device_type"], "device"), spans, template)
    for a, b in spans:
        rows = [r for s, e, r in got if (s, e) == (a, b)]
        assert_same(
            rows, reference_pes(events, ["device_type"], "device", for_period(template, a, b))
        )


def test_series_and_lifecycle_hand_computed() -> None:
    # d1 active 03-02 and 03-09; d2 03-09 only; d3 02-20 (before the first week's P').
    events = [
        ev("d1", date(2026, 3, 2)),
        ev("d1", date(2026, 3, 9)),
        ev("d2", date(2026, 3, 9)),
        ev("d3", date(2026, 2, 20)),
    ]
    state = state_from_events(events)
    cube = state.view(date(2026, 1, 1).toordinal(), date(2026, 3, 15).toordinal())
    mem = members(cube, [], "device")
    rows = {d: c for d, _, c in series(mem, date(2026, 3, 8), date(2026, 3, 10))}
    assert rows == {
        date(2026, 3, 8): [0, 1, 2],
        date(2026, 3, 9): [2, 2, 3],
        date(2026, 3, 10): [0, 2, 3],
    }
    spans = periods(date(2026, 3, 2), date(2026, 3, 15), "week")
    weeks = [lifecycle_row(a, b, r) for a, b, r in trend(cube, mem, spans, PesParams(*spans[0]))]
    # Week 1: d1 new (first 03-02). P' = 02-23..03-01: nobody, so nothing dropped.
    # Week 2: d1 retained, d2 new; nobody dropped.
    assert [(w["new"], w["recovered"], w["dropped"], w["net_growth"]) for w in weeks] == [
        (1, 0, 0, 1),
        (1, 0, 0, 1),
    ]
    assert weeks[0]["period_start"] == "2026-03-02" and weeks[1]["quick_ratio"] is None


@pytest.mark.parametrize("seed", range(6))
def test_series_matches_reference(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    params = random_params(rng)
    state = state_from_events(events)
    for entity in ("device", "account"):
        cube = state.view(params.start.toordinal() - 29, params.end.toordinal())
        got = [(d, *c) for d, _, c in series(members(cube, [], entity), params.start, params.end)]
        assert got == reference_series(events, entity, params.start, params.end)


def health_of(
    events: list[Event], params: PesParams, entity: str, hp: HealthParams
) -> dict[str, dict[str, Any]]:
    cube = state_from_events(events).view(*health_range(params))
    acts = activity_of(events)
    uses = [
        (entity_of(a, entity), a["day"].toordinal(), a["feature"], 1)
        for a in acts
        if a["kind"] == "feature_use"
    ]
    sessions = [
        (
            entity_of(a, entity),
            a["day"].toordinal(),
            1,
            float((a.get("props") or {}).get("duration_s", 0)),
        )
        for a in acts
        if a["kind"] == "session_end"
    ]
    rows = entity_health(cube, members(cube, [], entity), params, hp, uses, sessions)
    return {r["entity"]: r for r in rows}


def test_health_hand_computed() -> None:
    # P = 03-01..03-10 (L = 10). Core {a, b, c}; key actions default to the core set.
    # d1: active 5 days, used a and b, 4 uses of a + 2 of b = 6 key uses (target 10*10/30),
    #     2 sessions of 15 and 45 minutes: mean 30 -> depth 1.
    # health = 25*0.5 + 35*(2/3) + 25*min(1, 6/(10/3)) + 15*1 = 12.5 + 23.33 + 25 + 15.
    # d2: active only in P' (02-25): dropped, health 0, at risk.
    p = PesParams(date(2026, 3, 1), date(2026, 3, 10), core_features={"*": ["a", "b", "c"]})
    days = [date(2026, 3, k) for k in (1, 2, 3, 5, 8)]
    events = [ev("d1", d) for d in days]
    events += [ev("d1", days[k], "feature_use", "a", n=k) for k in range(4)]
    events += [ev("d1", days[k], "feature_use", "b", n=k) for k in range(2)]
    events += [
        ev("d1", days[0], "session_end", props={"duration_s": 900}),
        ev("d1", days[1], "session_end", props={"duration_s": 2700}),
    ]
    events += [ev("d2", date(2026, 2, 25))]
    rows = health_of(events, p, "device", HealthParams())
    d1, d2 = rows["d1"], rows["d2"]
    assert d1["frequency"] == 0.5 and d1["breadth"] == pytest.approx(2 / 3)
    assert d1["key_actions"] == 1.0 and d1["depth"] == 1.0
    assert d1["health"] == pytest.approx(12.5 + 35 * 2 / 3 + 25 + 15)
    assert d1["pql"] and not d1["at_risk"] and d1["mean_session_minutes"] == 30
    assert (d2["health"], d2["dropped"], d2["at_risk"], d2["reasons"]) == (
        0,
        True,
        True,
        ["low", "dropped"],
    )
    assert not d2["pql"] and d2["health_prev"] is not None
    # Configured key actions and targets: only c counts, target 1 use per 30 days.
    hp = HealthParams(key_actions={"press-x": ["c"]}, target_uses_per_30_days=1)
    assert health_of(events, p, "device", hp)["d1"]["key_actions"] == 0.0


def test_health_falling_and_pql_quartile() -> None:
    # d1..d3 are active 4, 3 and 2 days of P (L = 4) using core feature a each day: health
    # falls with them, and the top quartile (ceil(3/4) = 1 entity) is d1 alone. d4 used a daily
    # in P' (health 25 + 35 + 25 = 85) and shows up once in P without it (6.25): falling.
    p = PesParams(date(2026, 3, 1), date(2026, 3, 4), core_features={"*": ["a"]})
    events = []
    for k, n_days in enumerate((4, 3, 2), start=1):
        for d in range(n_days):
            day = date(2026, 3, 1 + d)
            events += [ev(f"d{k}", day), ev(f"d{k}", day, "feature_use", "a")]
    for d in range(4):
        events += [ev("d4", date(2026, 2, 25 + d), "feature_use", "a")]
    events.append(ev("d4", date(2026, 3, 1)))
    rows = health_of(events, p, "device", HealthParams(falling_points=10))
    assert [e for e, r in rows.items() if r["pql"]] == ["d1"]
    assert rows["d4"]["health_prev"] == pytest.approx(85)
    assert rows["d4"]["change"] == pytest.approx(6.25 - 85)
    assert rows["d4"]["reasons"] == ["low", "falling"]
    assert rows["d1"]["change"] is None and rows["d1"]["reasons"] == []


@pytest.mark.parametrize("seed", range(6))
def test_health_matches_reference(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    params = random_params(rng)
    key = rng.choice([None, {"press-x": ["export"], "*": ["jog"]}])
    hp = HealthParams(key_actions=key or {})
    for entity in ("device", "account"):
        got = health_of(events, params, entity, hp)
        want = reference_health(events, entity, params, key_actions=key)
        assert got.keys() == want.keys()
        for e, w in want.items():
            for k, v in w.items():
                assert math.isclose(got[e][k], v, abs_tol=1e-9), (e, k, got[e][k], v)


def test_funnel_hand_computed() -> None:
    # P = 03-01..03-10, N = 3. d1 first on 03-02, uses a on 03-04 (inside 03-02..03-04) and b on
    # 03-05 (outside). d2 first on 02-20: not new. d3 (lathe-9, core {j}) first 03-09, j that day.
    p = PesParams(
        date(2026, 3, 1), date(2026, 3, 10), core_features={"press-x": ["a", "b"], "lathe-9": ["j"]}
    )
    events = [
        ev("d1", date(2026, 3, 2)),
        ev("d1", date(2026, 3, 4), "feature_use", "a"),
        ev("d1", date(2026, 3, 5), "feature_use", "b"),
        ev("d2", date(2026, 2, 20)),
        ev("d2", date(2026, 3, 3), "feature_use", "a"),
        ev("d3", date(2026, 3, 9), "feature_use", "j", dtype="lathe-9"),
    ]
    cube = state_from_events(events).view(*funnel_range(p, 3))
    rows = funnel(cube, members(cube, ["device_type"], "device"), p, 3, today=date(2026, 3, 10))
    got = {
        (r["device_type"] if "device_type" in r else None, r["feature"]): (
            r["new"],
            r["eligible"],
            r["used"],
            r["window_open"],
        )
        for r in _segmented(cube, rows)
    }
    assert got == {
        ("lathe-9", "j"): (1, 1, 1, 1),
        ("press-x", "a"): (1, 1, 1, 0),
        ("press-x", "b"): (1, 1, 0, 0),
    }


def _segmented(cube: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mem = members(cube, ["device_type"], "device")
    return [{"device_type": mem.segments[r["_segment"]][0], **r} for r in rows]


@pytest.mark.parametrize("seed", range(6))
def test_funnel_matches_reference(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    params = random_params(rng)
    days = rng.choice([1, 3, 7, 14])
    for entity in ("device", "account"):
        cube = state_from_events(events).view(*funnel_range(params, days))
        rows = funnel(cube, members(cube, [], entity), params, days, params.end)
        got = {r["feature"]: (r["eligible"], r["used"]) for r in rows}
        assert got == reference_funnel(events, entity, params, days)
