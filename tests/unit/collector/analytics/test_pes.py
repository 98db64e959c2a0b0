"""Tests of collector.pes against the contract (specs/pes.md).

Three layers: the worked example shipped with the contract, small hand-computed cases, and a
randomized comparison with `reference_pes`, a deliberately naive implementation in this file that
works straight from raw event dicts and follows pes.md literally (loops over every day and window).
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from collector.analytics.params import PesParams, PesResult, Segment, StickinessMode
from tests.kits.analytics import (
    assert_same,
    dedup,
    entity_of,
    event_day,
    random_fleet,
    random_params,
    reference_pes,
    segment_of,
)
from tests.kits.pes import find_specs
from tests.oracles.pes_reference import ActivityRow, FeatureRow, compute_pes

Event = dict[str, Any]
EntityKind = Literal["device", "account"]
ACTIVITY_KINDS = frozenset({"session_start", "session_end", "feature_use"})
MODES: tuple[StickinessMode, ...] = ("dau_mau", "dau_wau", "wau_mau")
ENTITIES: tuple[EntityKind, ...] = ("device", "account")


def specs_dir() -> Path:
    return find_specs()


# ---------------------------------------------------------------- raw events -> rows


def events_to_rows(
    events: Iterable[Event], group_by: Sequence[str], entity: EntityKind
) -> tuple[list[ActivityRow], list[FeatureRow]]:
    """What the collector's rollups would hand to compute_pes (rows may repeat)."""
    activity: list[ActivityRow] = []
    uses: dict[tuple[str, Segment, str, date, str], int] = {}
    for event in dedup(events):
        if event["kind"] not in ACTIVITY_KINDS:
            continue
        e, seg, day = entity_of(event, entity), segment_of(event, group_by), event_day(event)
        activity.append(ActivityRow(e, seg, event["device_type"], day))
        if event["kind"] == "feature_use" and event.get("feature"):
            key = (e, seg, event["device_type"], day, event["feature"])
            uses[key] = uses.get(key, 0) + 1
    features = [FeatureRow(e, s, t, d, f, n) for (e, s, t, d, f), n in uses.items()]
    return activity, features


# ---------------------------------------------------------------- naive reference


# ---------------------------------------------------------------- small-case builders

_ids = itertools.count(1)
D = date(2026, 3, 1)  # day n of the hand cases is D + n days; P is days 7..13 below
P = PesParams(date(2026, 3, 8), date(2026, 3, 14))  # L = 7, P' = 2026-03-01..07


def ev(
    device: str,
    day: int,
    kind: str = "session_start",
    feature: str | None = None,
    *,
    dtype: str = "press-x",
    fw: str = "1.0",
    account: str = "acme",
    labels: dict[str, str] | None = None,
) -> Event:
    ts = datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(days=day)
    event: Event = {
        "id": f"id-{next(_ids)}",
        "device_id": device,
        "account_id": account,
        "device_type": dtype,
        "firmware_version": fw,
        "kind": kind,
        "feature": feature,
        "ts": ts.isoformat().replace("+00:00", "Z"),
    }
    if labels is not None:
        event["labels"] = labels
    return event


def use(device: str, day: int, feature: str, **kw: Any) -> Event:
    return ev(device, day, "feature_use", feature, **kw)


def run(
    events: list[Event],
    params: PesParams = P,
    group_by: Sequence[str] = ("device_type", "firmware_version"),
    entity: EntityKind = "device",
) -> dict[Segment, PesResult]:
    activity, features = events_to_rows(events, group_by, entity)
    results = compute_pes(activity, features, params)
    assert_same(results, reference_pes(events, group_by, entity, params))
    return {r.segment: r for r in results}


def with_(params: PesParams = P, **changes: Any) -> PesParams:
    values = {f.name: getattr(params, f.name) for f in fields(PesParams)}
    values.update(changes)
    return PesParams(**values)


# ---------------------------------------------------------------- worked example


@pytest.mark.parametrize("mode", ["dau_wau", "dau_mau"])
def test_worked_example(mode: StickinessMode) -> None:
    root = specs_dir()
    assert root.is_dir(), f"specs not found at {root}; set PES_SPECS_DIR"
    spec = json.loads((root / "pes-example-expected.json").read_text())
    lines = (root / "pes-example-events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    assert spec["stickiness"] == "dau_wau"
    params = PesParams(
        date.fromisoformat(spec["start"]),
        date.fromisoformat(spec["end"]),
        stickiness=mode,
        core_features=spec["core_features"],
    )
    group_by, entity = spec["group_by"], spec["entity"]
    activity, features = events_to_rows(events, group_by, entity)
    results = compute_pes(activity, features, params)
    expected = spec["expected"]
    assert [r.segment for r in results] == [tuple(x[g] for g in group_by) for x in expected]
    for got, want in zip(results, expected, strict=True):
        if mode == "dau_mau":  # the same rows; PES moves with stickiness
            sticky = want["stickiness_dau_mau"]
            pes = (want["adoption"] + sticky + want["growth"]) / 3
            want = dict(want, stickiness=sticky, pes=pes)
        for key in ("active", "new", "recovered", "dropped"):
            assert getattr(got, key) == want[key], (got.segment, key)
        for key in ("adoption", "stickiness", "growth", "pes", "quick_ratio"):
            if want[key] is None:
                assert getattr(got, key) is None, (got.segment, key)
            else:
                assert getattr(got, key) == pytest.approx(want[key], abs=1e-4), (got.segment, key)
        assert got.low_sample  # fewer than 30 active everywhere
    assert_same(results, reference_pes(events, group_by, entity, params))
    by_seg = {r.segment: r for r in results}
    # lathe-9 has no configured core set: the whole fleet of lathe-9 used jog and spindle in P.
    assert by_seg[("lathe-9", "1.0")].core_features == {"lathe-9": ["jog", "spindle"]}
    assert by_seg[("lathe-9", "1.0")].feature_adoption == {"jog": 0.5, "spindle": 0.5}
    press = by_seg[("press-x", "1.0")]
    assert press.core_features == {"press-x": ["calibrate", "export", "recipes"]}
    # d1 uses calibrate+export daily, d3 uses recipes: each feature by one of two devices.
    assert press.feature_adoption == {"calibrate": 0.5, "export": 0.5, "recipes": 0.5}
    assert (press.dau, press.wau, press.mau) == (1, 2, 3)  # d1 / d1,d3 / d1,d2,d3 on 03-14


# ---------------------------------------------------------------- hand-computed cases


def test_params_validation() -> None:
    assert PesParams(date(2026, 3, 1), date(2026, 3, 1)).length == 1
    PesParams(D, D, weights=(0.5, 0.5, 0.0))
    PesParams(D, D, weights=(0.2, 0.3, 0.5 + 5e-10))  # within the 1e-9 tolerance
    with pytest.raises(ValueError, match="after end"):
        PesParams(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ValueError, match="sum to 1"):
        PesParams(D, D, weights=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="sum to 1"):
        PesParams(D, D, weights=(0.2, 0.3, 0.5 + 1e-8))
    with pytest.raises(ValueError, match="non-negative"):
        PesParams(D, D, weights=(-0.1, 0.6, 0.5))
    with pytest.raises(ValueError, match="non-negative"):
        PesParams(D, D, weights=(math.nan, 0.5, 0.5))
    with pytest.raises(ValueError, match="stickiness mode"):
        PesParams(D, D, stickiness="mau_dau")  # type: ignore[arg-type]  # on purpose: no such mode
    with pytest.raises(ValueError, match="list of names"):
        PesParams(D, D, core_features={"press-x": "calibrate"})


def test_nothing_moved_growth_50_and_no_quick_ratio() -> None:
    # d1 is active on 03-04 (in P') and 03-11 (in P), first(d1) = 03-04 in P': retained.
    # new = recovered = dropped = 0 -> growth 50, quick ratio null.
    # C = {calibrate, export}, used calibrate -> adoption 50.
    # dau_mau: MAU = 1 every day of P (03-04 reaches to 04-02), DAU = 1 on 03-11 only -> 100/7.
    events = [ev("d1", 3), use("d1", 3, "export"), ev("d1", 10), use("d1", 10, "calibrate")]
    params = with_(core_features={"*": ["calibrate", "export"]})
    r = run(events, params)[("press-x", "1.0")]
    assert (r.new, r.recovered, r.dropped, r.quick_ratio, r.growth) == (0, 0, 0, None, 50.0)
    assert r.adoption == 50.0
    assert r.stickiness == pytest.approx(100 / 7)
    assert r.pes == pytest.approx((50 + 100 / 7 + 50) / 3)
    assert (r.dau, r.wau, r.mau) == (0, 1, 1)  # last active 03-11, end 03-14
    assert r.feature_adoption == {"calibrate": 1.0, "export": 0.0}


def test_new_recovered_dropped_and_quick_ratio() -> None:
    # L = 7, P' = 03-01..07, so "before start - L" means before 03-01.
    # d1: only in P' -> dropped. d2: first in P -> new. d3: active 02-20 (before P'), not in P',
    # active in P -> recovered. d4: 02-25 and P, but also in P' -> retained (neither).
    events = [
        ev("d1", 2),
        ev("d2", 9),
        ev("d3", -9),
        ev("d3", 12),
        ev("d4", -4),
        ev("d4", 5),
        ev("d4", 13),
    ]
    r = run(events, group_by=[])[()]
    assert (r.active, r.new, r.recovered, r.dropped) == (3, 1, 1, 1)
    assert r.quick_ratio == 2.0
    assert r.growth == pytest.approx(200 / 3)
    # Nobody used a feature and no core set is configured: every C_e is empty -> adoption null.
    assert r.adoption is None and r.pes is None
    assert r.core_features == {"press-x": []} and r.feature_adoption == {}


def test_firmware_change_mid_period_counts_in_both_segments() -> None:
    # d1 runs fw 1.0 on 03-08..10, then fw 2.0 on 03-11..14 (first day in P: new in both).
    events = [ev("d1", n, fw="1.0") for n in (7, 8, 9)]
    events += [ev("d1", n, fw="2.0") for n in (10, 11, 12, 13)]
    params = with_(stickiness="dau_wau")
    rows = run(events, params, group_by=["firmware_version"])
    old, new = rows[("1.0",)], rows[("2.0",)]
    assert (old.active, old.new, new.active, new.new) == (1, 1, 1, 1)
    # fw 1.0: DAU/WAU = 1 on 03-08..10, 0/1 on 03-11..14 -> 3/7.
    assert old.stickiness == pytest.approx(300 / 7)
    assert (old.dau, old.wau, old.mau) == (0, 1, 1)
    # fw 2.0: WAU = 0 on 03-08..10 (skipped), 1/1 on 03-11..14 -> 100.
    assert new.stickiness == 100.0
    assert (new.dau, new.wau, new.mau) == (1, 1, 1)
    whole = run(events, params, group_by=[])[()]
    assert (whole.active, whole.stickiness) == (1, 100.0)


def test_account_entity_unions_core_sets_of_its_device_types() -> None:
    # Account acme: d1 (press-x) uses calibrate+export, d2 (lathe-9) uses jog.
    # Core: press-x {calibrate, export}, lathe-9 {jog, spindle, probe}.
    # entity=device: d1 2/2, d2 1/3 -> adoption 100 * (1 + 1/3) / 2 = 66.67.
    # entity=account: C = 5 features, 3 used -> 60.
    events = [
        ev("d1", 8),
        use("d1", 8, "calibrate"),
        use("d1", 9, "export"),
        ev("d2", 8, dtype="lathe-9"),
        use("d2", 10, "jog", dtype="lathe-9"),
    ]
    core = {"press-x": ["calibrate", "export"], "lathe-9": ["jog", "spindle", "probe"]}
    params = with_(core_features=core)
    by_device = run(events, params, group_by=[], entity="device")[()]
    assert by_device.active == 2
    assert by_device.adoption == pytest.approx(200 / 3)
    by_account = run(events, params, group_by=[], entity="account")[()]
    assert by_account.active == 1
    assert by_account.adoption == pytest.approx(60.0)
    assert by_account.core_features == {
        "lathe-9": ["jog", "probe", "spindle"],
        "press-x": ["calibrate", "export"],
    }
    assert by_account.feature_adoption == {
        "calibrate": 1.0,
        "export": 1.0,
        "jog": 1.0,
        "probe": 0.0,
        "spindle": 0.0,
    }
    # Per feature, only entities whose core set holds it count: by device, jog is d2's alone
    # (1 of 1), calibrate d1's alone; d1 (press-x) does not dilute jog to 1 of 2.
    assert by_device.feature_adoption == {
        "calibrate": 1.0,
        "export": 1.0,
        "jog": 1.0,
        "probe": 0.0,
        "spindle": 0.0,
    }
    events.append(ev("d3", 9, dtype="lathe-9"))  # a second lathe that used nothing
    by_device = run(events, params, group_by=[], entity="device")[()]
    assert by_device.feature_adoption["jog"] == 0.5
    assert by_device.feature_adoption["calibrate"] == 1.0


def test_default_core_set_and_fleet_fallback() -> None:
    # press-x has its own list; lathe-9 falls back to "*".
    events = [ev("d1", 8), use("d1", 8, "calibrate"), use("d5", 9, "jog", dtype="lathe-9")]
    params = with_(core_features={"press-x": ["calibrate"], "*": ["jog", "spindle"]})
    rows = run(events, params, group_by=["device_type"])
    assert rows[("press-x",)].adoption == 100.0
    assert rows[("press-x",)].core_features == {"press-x": ["calibrate"]}
    assert rows[("lathe-9",)].adoption == 50.0
    assert rows[("lathe-9",)].core_features == {"lathe-9": ["jog", "spindle"]}
    # No "*" and no list: the core set of lathe-9 is what the whole lathe-9 fleet used in P,
    # across segments: d5 (fw 1.0) used jog, d6 (fw 2.0) used spindle, so each has 1 of 2.
    # probe was used only in P' and does not count.
    events = [
        use("d5", 9, "jog", dtype="lathe-9"),
        use("d6", 9, "spindle", dtype="lathe-9", fw="2.0"),
        use("d6", 3, "probe", dtype="lathe-9", fw="2.0"),
    ]
    rows = run(events, with_(core_features={"press-x": ["calibrate"]}))
    for fw in ("1.0", "2.0"):
        assert rows[("lathe-9", fw)].core_features == {"lathe-9": ["jog", "spindle"]}
        assert rows[("lathe-9", fw)].adoption == 50.0


def test_empty_group_by_is_whole_fleet() -> None:
    events = [
        ev("d1", 8, fw="1.0"),
        ev("d2", 9, fw="2.0", dtype="lathe-9"),
        ev("d3", 10, fw="3.0", labels={"site": "north"}),
    ]
    rows = run(events, group_by=[])
    assert list(rows) == [()]
    assert rows[()].active == 3 and rows[()].new == 3 and rows[()].growth == 100.0


def test_segment_with_only_dropped_entities_still_shows() -> None:
    # fw 1.0: d1 active on 03-05 only (P'); fw 2.0: d2 active in P.
    # fw 1.0 row: active 0, adoption null, dropped 1, growth 0, quick ratio 0/1 = 0.
    # dau_mau: MAU = 1 on every day of P (03-05 + 29 days), DAU = 0 -> stickiness 0, not null.
    events = [ev("d1", 4, fw="1.0"), use("d1", 4, "calibrate", fw="1.0"), ev("d2", 9, fw="2.0")]
    params = with_(core_features={"*": ["calibrate"]})
    rows = run(events, params, group_by=["firmware_version"])
    gone = rows[("1.0",)]
    assert (gone.active, gone.dropped, gone.new, gone.recovered) == (0, 1, 0, 0)
    assert (gone.adoption, gone.pes, gone.growth, gone.quick_ratio) == (None, None, 0.0, 0.0)
    assert gone.stickiness == 0.0
    assert gone.core_features == {} and gone.feature_adoption == {}
    assert (gone.dau, gone.wau, gone.mau) == (0, 0, 1)
    assert gone.low_sample
    # Activity only before P' (03-01 - 1 day) gives no row at all.
    rows = run([ev("d1", -1, fw="1.0"), ev("d2", 9, fw="2.0")], group_by=["firmware_version"])
    assert list(rows) == [("2.0",)]


def test_low_sample_flag() -> None:
    events = [ev("d1", 8), ev("d2", 9)]
    assert run(events)[("press-x", "1.0")].low_sample  # 2 < 30 by default
    assert not run(events, with_(low_sample_threshold=2))[("press-x", "1.0")].low_sample
    assert run(events, with_(low_sample_threshold=3))[("press-x", "1.0")].low_sample
    # Only active(P) counts: a dropped entity does not lift the sample.
    events = [ev("d1", 8), ev("d2", 2)]
    assert run(events, with_(low_sample_threshold=2))[("press-x", "1.0")].low_sample


def test_segments_sorted_with_missing_label_last() -> None:
    events = [
        ev("d1", 8, labels={"site": "south"}),
        ev("d2", 8),
        ev("d3", 8, labels={"site": "north"}),
        ev("d4", 8, dtype="lathe-9"),
    ]
    rows = run(events, group_by=["label:site", "device_type"])
    assert list(rows) == [
        ("north", "press-x"),
        ("south", "press-x"),
        (None, "lathe-9"),
        (None, "press-x"),
    ]


def test_rows_are_sets_and_days_after_end_are_ignored() -> None:
    seg: Segment = ("press-x",)
    day = date(2026, 3, 10)
    activity = [ActivityRow("d1", seg, "press-x", day)] * 3
    activity += [ActivityRow("d1", seg, "press-x", date(2026, 3, 15))]  # after end
    activity += [ActivityRow("d2", seg, "press-x", date(2026, 3, 20))]  # only after end
    features = [FeatureRow("d1", seg, "press-x", day, "calibrate", 2)] * 2
    features += [FeatureRow("d1", seg, "press-x", date(2026, 3, 16), "export", 1)]
    [r] = compute_pes(activity, features, P)
    assert (r.active, r.new, r.dau, r.wau, r.mau) == (1, 1, 0, 1, 1)
    assert r.core_features == {"press-x": ["calibrate"]}  # export was used after end
    assert r.adoption == 100.0
    # A feature row is activity too (feature_use is an activity kind).
    [r] = compute_pes([], features, P)
    assert (r.active, r.adoption) == (1, 100.0)


def test_weights_apply() -> None:
    events = [ev("d1", 7), use("d1", 7, "calibrate")]
    params = with_(weights=(0.5, 0.25, 0.25), core_features={"*": ["calibrate", "export"]})
    r = run(events, params)[("press-x", "1.0")]
    # adoption 50; dau_mau: 1/1 on 03-08, 0/1 after -> 100/7; growth 100 (new).
    assert r.pes == pytest.approx(0.5 * 50 + 0.25 * 100 / 7 + 0.25 * 100)


# ---------------------------------------------------------------- randomized comparison

FEATURES = {"press-x": ["calibrate", "export", "recipes", "clean"], "lathe-9": ["jog", "spindle"]}
GROUP_BYS: list[list[str]] = [
    [],
    ["device_type"],
    ["firmware_version"],
    ["device_type", "firmware_version"],
    ["label:site"],
    ["device_type", "label:site"],
]
HISTORY = 60
BASE = date(2026, 1, 1)


@pytest.mark.parametrize("seed", range(20))
def test_matches_naive_reference_on_random_fleets(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    for group_by, entity, mode in itertools.product(GROUP_BYS, ENTITIES, MODES):
        params = random_params(rng, mode)
        activity, features = events_to_rows(events, group_by, entity)
        rng.shuffle(activity)
        expected = reference_pes(events, group_by, entity, params)
        assert_same(compute_pes(activity, features, params), expected)
