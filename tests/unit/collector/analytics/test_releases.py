"""Release impact (specs/releases.md): hand-computed edge cases and a property test against the
brute-force reference (tests/oracles/releases_reference.py). The firmware runs kept under late
and resent events are in test_releases_runs.py."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.analytics.releases import ReleaseParams, ReleaseRow, release_report
from collector.analytics.releases_fleet import Event, Fleet, fleet_from_events
from collector.analytics.releases_rollout import rollout
from collector.analytics.releases_stats import bootstrap_p, holm
from tests.oracles.releases_reference import reference_rollout, reference_rows

D0 = date(2026, 3, 1)
DAY_MS = 86_400_000
# ReleaseRow's keys read through a variable: literal types, so each read keeps its value type.
Key = Literal[
    "pre_mean", "post_mean", "change", "control_change", "did", "transitions", "measurable",
    "pending", "confounded", "inactive", "no_control", "change_ci", "did_ci", "significant",
    "significant_holm",
]  # fmt: skip
VALUES: tuple[Key, ...] = ("pre_mean", "post_mean", "change", "control_change", "did")
COUNTS: tuple[Key, ...] = (
    "transitions", "measurable", "pending", "confounded", "inactive", "no_control",
)  # fmt: skip


def day(n: int) -> date:
    return D0 + timedelta(days=n)


class Log:
    """Raw events as the oracle reads them (dicts) and as the engine reads them (Event)."""

    def __init__(self) -> None:
        self.raw: list[dict[str, Any]] = []

    def add(
        self,
        device: str,
        d: int,
        fw: str,
        kind: str = "session_start",
        feature: str | None = None,
        typ: str = "x",
        at: int | None = None,
    ) -> None:
        ts = d * DAY_MS + (at if at is not None else 1000 * len(self.raw))
        self.raw.append(
            {"device": device, "type": typ, "fw": fw, "kind": kind, "feature": feature,
             "day": day(d), "ts": ts, "id": f"e{len(self.raw):04d}"}
        )  # fmt: skip

    def fleet(self, n_days: int = 40) -> Fleet:
        return fleet_from_events(to_events(self.raw), D0.toordinal(), n_days)


def to_events(raw: list[dict[str, Any]]) -> list[Event]:
    return [
        Event(e["device"], e["type"], e["fw"], e["kind"], e["feature"], e["day"].toordinal(),
              e["ts"], e["id"])
        for e in raw
    ]  # fmt: skip


def params(start: int, end: int, as_of: int, w: int, **kw: Any) -> ReleaseParams:
    return ReleaseParams(day(start), day(end), day(as_of), w, **kw)


def row(rows: list[ReleaseRow], release: tuple[str, str, str], metric: str) -> ReleaseRow:
    (found,) = [
        r
        for r in rows
        if (r["device_type"], r["from"], r["to"]) == release and r["metric"] == metric
    ]
    return found


def did_fleet() -> Log:
    """W = 2, a: 1.0 -> 2.0 on day 10. Hand-computed in test_before_after_and_did."""
    log = Log()
    log.add("a", 8, "1.0")
    log.add("a", 9, "1.0")
    log.add("a", 10, "2.0", "heartbeat")  # the transition
    log.add("a", 10, "2.0", "feature_use", "f2")  # day of the change: left out
    log.add("a", 11, "2.0", "feature_use", "f1")
    log.add("a", 11, "2.0", "feature_use", "f1")
    log.add("b", 8, "1.0")  # the control
    log.add("b", 10, "1.0", "feature_use", "f1")  # left out too
    log.add("b", 11, "1.0")
    log.add("b", 12, "1.0", "feature_use", "f2")
    log.add("c", 9, "1.0", typ="y")  # another type: never a control of x
    log.add("d", 9, "1.0", "heartbeat")  # no activity in pre: not a control
    log.add("d", 11, "1.0")
    return log


def test_before_after_and_did_by_hand() -> None:
    p = params(5, 15, 20, 2, core_features={"*": ["f1", "f2"]})
    rows = release_report(did_fleet().fleet(), p)
    assert [(r["device_type"], r["from"], r["to"], r["metric"]) for r in rows] == [
        ("x", "1.0", "2.0", m) for m in ("active_share", "breadth", "uses_per_day")
    ]
    # a: active pre {8, 9} -> 1.0, post {11} -> 0.5; b: pre {8} 0.5, post {11, 12} 1.0
    expected = {
        "active_share": (1.0, 0.5, -0.5, 0.5, -1.0),
        "breadth": (0.0, 0.5, 0.5, 0.5, 0.0),  # a: {f1} of 2; b: {f2} of 2
        "uses_per_day": (0.0, 1.0, 1.0, 0.5, 0.5),  # a: 2 uses / 2 days; b: 1 use
    }
    for metric, values in expected.items():
        r = row(rows, ("x", "1.0", "2.0"), metric)
        assert [r[k] for k in VALUES] == pytest.approx(values, abs=1e-12)
        assert [r[k] for k in COUNTS] == [1, 1, 0, 0, 0, 0]
        assert r["change_ci"] == pytest.approx([values[2]] * 2)  # one transition: [v, v]


def test_day_of_change_is_left_out() -> None:
    log = Log()
    log.add("a", 10, "1.0", at=0)  # activity on the day of the change, both versions
    log.add("a", 10, "2.0", "feature_use", "f1", at=5)
    log.add("a", 9, "1.0")
    rows = release_report(log.fleet(), params(5, 15, 20, 3, core_features={"x": ["f1"]}))
    for metric, pre in (("active_share", 1 / 3), ("breadth", 0.0), ("uses_per_day", 0.0)):
        r = row(rows, ("x", "1.0", "2.0"), metric)
        assert (r["pre_mean"], r["post_mean"]) == pytest.approx((pre, 0.0))


def test_downgrade_is_a_release() -> None:
    log = Log()
    for d in range(2, 20):
        log.add("a", d, "2.0" if 6 <= d < 10 else "1.0")
    rows = release_report(log.fleet(), params(0, 20, 30, 3))
    assert {(r["from"], r["to"]) for r in rows} == {("1.0", "2.0"), ("2.0", "1.0")}
    down = row(rows, ("x", "2.0", "1.0"), "active_share")
    assert [down[k] for k in COUNTS] == [1, 1, 0, 0, 0, 1]  # 10 - 6 > 3: not confounded
    assert (down["pre_mean"], down["post_mean"], down["change"]) == (1.0, 1.0, 0.0)


def test_two_changes_in_one_window_are_confounded() -> None:
    log = Log()
    for d in range(2, 20):
        log.add("a", d, "1.0" if d < 10 else "2.0" if d < 12 else "3.0")
    rows = release_report(log.fleet(), params(0, 20, 30, 2))
    for release in (("x", "1.0", "2.0"), ("x", "2.0", "3.0")):
        r = row(rows, release, "uses_per_day")
        assert [r[k] for k in COUNTS] == [1, 0, 0, 1, 0, 0]
        assert r["change"] is None and r["did"] is None and r["significant"] is None
    # a change outside [start, end] still confounds; W = 1 separates them
    rows = release_report(log.fleet(), params(10, 10, 30, 2))
    assert row(rows, ("x", "1.0", "2.0"), "breadth")["confounded"] == 1
    rows = release_report(log.fleet(), params(0, 20, 30, 1))
    assert row(rows, ("x", "1.0", "2.0"), "breadth")["measurable"] == 1


def test_inactive_before_and_pending_first() -> None:
    log = Log()
    log.add("a", 7, "1.0")  # activity, but outside pre = [8, 9]
    log.add("a", 9, "1.0", "heartbeat")  # no activity
    log.add("a", 10, "2.0")
    log.add("b", 9, "1.0")
    log.add("b", 18, "2.0")  # 18 + 2 > as_of 19: pending
    log.add("b", 19, "3.0")  # pending too (pending is decided before confounded)
    rows = release_report(log.fleet(), params(5, 19, 19, 2))
    a = row(rows, ("x", "1.0", "2.0"), "active_share")
    assert [a[k] for k in COUNTS] == [2, 0, 1, 0, 1, 0]
    assert a["pre_mean"] is None and a["change_ci"] is None
    assert row(rows, ("x", "2.0", "3.0"), "breadth")["pending"] == 1
    # as_of one day later: b's 18 is no longer pending but confounded by 19
    rows = release_report(log.fleet(), params(5, 19, 20, 2))
    assert row(rows, ("x", "1.0", "2.0"), "active_share")["confounded"] == 1


def test_release_without_control_devices() -> None:
    log = Log()
    log.add("a", 9, "1.0")
    log.add("a", 10, "2.0")
    log.add("a", 11, "2.0")
    log.add("b", 9, "1.0")
    log.add("b", 12, "1.1", "heartbeat")  # inside [u - W, u + W]: not a control
    rows = release_report(log.fleet(), params(5, 10, 20, 2))
    r = row(rows, ("x", "1.0", "2.0"), "active_share")
    assert [r[k] for k in COUNTS] == [1, 1, 0, 0, 0, 1]
    assert (r["pre_mean"], r["post_mean"], r["change"]) == (0.5, 0.5, 0.0)
    none: tuple[Key, ...] = ("control_change", "did", "did_ci", "significant", "significant_holm")
    assert [r[k] for k in none] == [None] * 5


def test_type_without_core_set_has_no_breadth() -> None:
    log = Log()
    for dev in ("a", "b"):
        log.add(dev, 2, "1.0", "feature_use", "f9", typ="z")  # before start - W: not in the set
        log.add(dev, 9, "1.0", typ="z")
    log.add("a", 10, "2.0", typ="z")
    p = params(5, 10, 20, 2, core_features={"x": ["f1"]})
    rows = release_report(log.fleet(), p)
    r = row(rows, ("z", "1.0", "2.0"), "breadth")
    assert [r[k] for k in COUNTS] == [1, 1, 0, 0, 0, 0]
    unset: tuple[Key, ...] = (*VALUES, "change_ci", "did_ci")
    assert [r[k] for k in unset] == [None] * 7
    active = row(rows, ("z", "1.0", "2.0"), "active_share")  # a and b: 0.5 -> 0
    assert (active["change"], active["control_change"], active["did"]) == (-0.5, -0.5, 0.0)
    # the fallback's first day is start - W = day 3: f9 used that day makes the set {f9}
    log.add("b", 3, "1.0", "feature_use", "f9", typ="z")
    r = row(release_report(log.fleet(), p), ("z", "1.0", "2.0"), "breadth")
    assert (r["pre_mean"], r["control_change"]) == (0.0, 0.0)


def test_holm_on_a_hand_made_family() -> None:
    # sorted: .005 <= .05/4, .01 <= .05/3, .03 > .05/2: stop (.04 is not rejected either)
    assert holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    assert holm([0.04]) == [True]
    assert holm([0.04, 0.04]) == [False, False]
    assert holm([]) == []
    means = np.array([-0.1, 0.2, 0.3, 0.4] * 10)
    assert bootstrap_p(means) == pytest.approx(0.5)
    assert bootstrap_p(np.ones(100)) == 0.0
    assert bootstrap_p(np.zeros(10)) == 1.0


def test_strong_effect_is_significant_and_survives_holm() -> None:
    log = Log()
    for i in range(30):
        dev = f"u{i:02d}"
        for d in range(5, 15):
            log.add(dev, d, "1.0")
        log.add(dev, 15, "2.0", "heartbeat")
        for d in range(16, 26):  # upgraded devices use f1 every day after
            log.add(dev, d, "2.0", "feature_use", "f1")
        control = f"c{i:02d}"
        for d in range(5, 26):
            log.add(control, d, "1.0", "feature_use" if i % 2 else "session_start", "f1")
    rows = release_report(log.fleet(), params(10, 20, 30, 7, resamples=300, seed=3))
    r = row(rows, ("x", "1.0", "2.0"), "uses_per_day")
    assert r["did"] == pytest.approx(1.0)
    assert r["significant"] is True and r["significant_holm"] is True
    ci = r["did_ci"]
    assert ci is not None and ci[0] <= 1.0 <= ci[1]
    flat = row(rows, ("x", "1.0", "2.0"), "active_share")  # every device active every day
    assert flat["did"] == 0.0 and flat["significant"] is False
    assert flat["significant_holm"] is False
    assert release_report(log.fleet(), params(10, 20, 30, 7, resamples=300, seed=3)) == rows


@st.composite
def random_fleets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], ReleaseParams]:
    """Up to 6 devices, each on a firmware schedule (0 to 2 changes, sometimes a stray event of
    another version or type), events of every kind over 14 days, second deliveries."""
    n_dev = draw(st.integers(1, 6))
    versions = ("1.0", "2.0", "3.0")
    plans = [
        (
            ["1.0", *draw(st.lists(st.sampled_from(versions), max_size=2))],
            sorted(draw(st.lists(st.integers(1, 13), min_size=2, max_size=2))),
            "y" if dev == 5 else "x",
        )
        for dev in range(n_dev)
    ]
    kinds = ("session_start", "feature_use", "heartbeat", "session_end")
    raw: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 80))):
        if raw and draw(st.integers(0, 9)) == 0:
            raw.append(dict(draw(st.sampled_from(raw))))  # a second delivery
            continue
        dev = draw(st.integers(0, n_dev - 1))
        d = draw(st.integers(0, 13))
        kind = draw(st.sampled_from(kinds))
        schedule, changes, typ = plans[dev]
        version = schedule[min(sum(d >= c for c in changes), len(schedule) - 1)]
        stray = draw(st.integers(0, 19))
        raw.append(
            {"device": f"d{dev}", "type": "y" if stray == 1 else typ,
             "fw": draw(st.sampled_from(versions)) if stray == 0 else version,
             "kind": kind, "feature": draw(st.sampled_from(("f0", "f1", "f2"))) if kind ==
             "feature_use" else None, "day": day(d), "ts": d * DAY_MS + draw(st.integers(0, 2)),
             "id": f"e{i:03d}"}
        )  # fmt: skip
    start = draw(st.integers(0, 8))
    end = draw(st.integers(start, 12))
    core = draw(st.sampled_from(({}, {"x": ["f0", "f1"]}, {"*": ["f2"]}, {"y": ["f1"]})))
    p = params(start, end, draw(st.integers(start, 20)), draw(st.integers(1, 4)),
               core_features=core, resamples=20)  # fmt: skip
    return raw, p


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_fleets())
def test_engine_matches_the_brute_force_reference(
    case: tuple[list[dict[str, Any]], ReleaseParams],
) -> None:
    raw, p = case
    # the arrays may be narrower than [start - W, end + W]: days outside count as empty
    fleet = fleet_from_events(to_events(raw), D0.toordinal(), 14)
    got = release_report(fleet, p)
    want = reference_rows(raw, p.start, p.end, p.as_of, p.window, dict(p.core_features))
    assert [_key(r) for r in got] == [_key(r) for r in want]
    for g, w in zip([dict(r) for r in got], want, strict=True):
        assert [g[k] for k in COUNTS] == [w[k] for k in COUNTS], _key(w)
        for k in VALUES:
            if w[k] is None:
                assert g[k] is None, (_key(w), k)
            else:
                assert g[k] == pytest.approx(w[k], abs=1e-9), (_key(w), k)
        assert (g["change_ci"] is None) == (w["change"] is None)
        assert (g["did_ci"] is None) == (w["did"] is None)
    assert rollout(fleet, p.start, p.end) == reference_rollout(raw, p.start, p.end)


def _key(r: Any) -> tuple[str, str, str, str]:
    return (r["device_type"], r["from"], r["to"], r["metric"])


def test_empty_fleet_and_parameters() -> None:
    empty = fleet_from_events([], D0.toordinal(), 10)
    assert release_report(empty, params(2, 5, 9, 2)) == []
    assert rollout(empty, day(0), day(9)) == {"days": [], "versions": []}
    with pytest.raises(ValueError, match="window"):
        params(2, 5, 9, 61)
    with pytest.raises(ValueError, match="window"):
        params(2, 5, 9, 0)
    with pytest.raises(ValueError, match="after"):
        params(5, 2, 9, 3)
    p = ReleaseParams.default(date(2026, 6, 30))
    assert (p.start, p.end, p.as_of, p.window) == (
        date(2026, 4, 2), date(2026, 6, 30), date(2026, 6, 29), 14
    )  # fmt: skip
    with pytest.raises(ValueError, match="sorted by device"):
        Fleet(**{**_fields(did_fleet().fleet()), "run_device": np.arange(5)[::-1].copy()})


def _fields(fleet: Fleet) -> dict[str, Any]:
    return {name: getattr(fleet, name) for name in Fleet.__dataclass_fields__}


def test_rollout_by_hand() -> None:
    log = Log()
    log.add("a", 1, "1.0")
    log.add("a", 1, "2.0")  # active on both versions that day: once in the type's total
    log.add("b", 1, "1.0")
    log.add("c", 1, "1.0", "heartbeat")  # not activity
    log.add("c", 3, "3.0", "heartbeat", typ="y")
    got = rollout(log.fleet(), day(1), day(2))
    assert got["days"] == [
        {"day": "2026-03-02", "device_type": "x", "firmware": "1.0", "active": 2, "share": 1.0},
        {"day": "2026-03-02", "device_type": "x", "firmware": "2.0", "active": 1, "share": 0.5},
    ]
    assert [(v["device_type"], v["firmware"], v["first_day"], v["last_day"])
            for v in got["versions"]] == [
        ("x", "1.0", "2026-03-02", "2026-03-02"),
        ("x", "2.0", "2026-03-02", "2026-03-02"),
        ("y", "3.0", "2026-03-04", "2026-03-04"),
    ]  # fmt: skip


def _wide_fleet(seed: int, n_features: int) -> list[dict[str, Any]]:
    """Devices over 60 days: half upgrade 1.0 -> 2.0 on a random day, a few go back; each
    active day uses a random handful of `n_features` features."""
    rng = random.Random(seed)
    log = Log()
    for k in range(14):
        dev, typ = f"d{k:02d}", ("x", "y")[k % 3 == 0]
        up = rng.randrange(20, 40) if k % 2 else 99
        down = up + rng.randrange(3, 30) if rng.random() < 0.3 else 99
        for d in range(60):
            if rng.random() < 0.3:
                continue
            fw = "2.0" if up <= d < down else "1.0"
            log.add(dev, d, fw, "session_start", typ=typ)
            for f in rng.sample(range(n_features), rng.randrange(0, 5)):
                log.add(dev, d, fw, "feature_use", f"f{f}", typ=typ)
    return log.raw


@pytest.mark.parametrize(
    ("window", "n_features", "core"),
    [
        (7, 6, {}),  # fallback core sets
        (13, 12, {"x": [f"f{i}" for i in range(11)] + ["never-used"]}),  # 16-bit masks
        (16, 9, {"*": [f"f{i}" for i in range(9)]}),  # a power of two
        (21, 70, {}),  # more than 64 core features: two mask words
    ],
)
def test_long_windows_and_wide_core_sets_match_the_reference(
    window: int, n_features: int, core: dict[str, list[str]]
) -> None:
    """The vectorised measurement at windows and core sets the property test does not reach
    (its windows are 1-4 days, its core sets up to 3 features)."""
    raw = _wide_fleet(window, n_features)
    p = params(window + 1, 59 - window, 59, window, core_features=core, resamples=50)
    got = release_report(fleet_from_events(to_events(raw), D0.toordinal(), 60), p)
    want = reference_rows(raw, p.start, p.end, p.as_of, p.window, core)
    assert [_key(r) for r in got] == [_key(r) for r in want]
    assert sum(r["measurable"] for r in want) > 0
    for g, w in zip([dict(r) for r in got], want, strict=True):
        assert [g[k] for k in COUNTS] == [w[k] for k in COUNTS], _key(w)
        for k in VALUES:
            assert g[k] == pytest.approx(w[k], abs=1e-9), (_key(w), k)


def test_a_device_type_filter_keeps_that_types_rows_and_intervals() -> None:
    """Releases of other types are skipped before their bootstrap; the kept rows are those of
    the whole answer (intervals included: each release draws its own resamples), only Holm's
    family is smaller."""
    fleet = fleet_from_events(to_events(_wide_fleet(3, 6)), D0.toordinal(), 60)
    p = params(8, 45, 59, 7, resamples=200)
    every = release_report(fleet, p)
    for typ in ("x", "y"):
        mine = release_report(fleet, ReleaseParams(**{**_fields_of(p), "device_type": typ}))
        assert mine and {r["device_type"] for r in mine} == {typ}
        want = [r for r in every if r["device_type"] == typ]
        drop = "significant_holm"
        assert [{**r, drop: None} for r in mine] == [{**r, drop: None} for r in want]


def _fields_of(p: ReleaseParams) -> dict[str, Any]:
    return {name: getattr(p, name) for name in ReleaseParams.__dataclass_fields__}
