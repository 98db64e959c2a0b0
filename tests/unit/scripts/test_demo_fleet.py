"""The demo's fleet model (scripts/demo_fleet.py) and live traffic (scripts/demo_live.py): the
properties the printed story and the serving check rest on (docs/demo.md)."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from scripts.demo_fleet import FIRMWARE, TYPES, Fleet, build_fleet, history, write_outcomes
from scripts.demo_live import LiveStats, live_session
from scripts.demo_print import verdict

W = 14  # the release window the demo's story is built for


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return build_fleet(7, devices=400, agents=12, n_accounts=24, days=90)


def test_the_same_seed_gives_the_same_fleet_and_plans(fleet: Fleet) -> None:
    again = build_fleet(7, devices=400, agents=12, n_accounts=24, days=90)
    assert again.devices == fleet.devices and again.agents == fleet.agents
    d = fleet.devices[0]
    assert d.plan(fleet.origin, 90) == again.devices[0].plan(again.origin, 90)


def test_a_longer_plan_begins_with_the_shorter_one(fleet: Fleet) -> None:
    for d in fleet.agents:
        assert d.plan(fleet.origin, 120)[:90] == d.plan(fleet.origin, 90)


def test_history_holds_every_planned_session_up_to_today_and_none_from_the_future(
    fleet: Fleet,
) -> None:
    t = fleet.days - 1
    noon = fleet.day_start_ms(t) + 12 * 3_600_000
    for d in fleet.devices[:100]:
        planned = [s for s in d.plan(fleet.origin, fleet.days) if s is not None]
        got = list(history(fleet, d, noon))
        assert [s.day for s in got] == [s.day for s in planned]
        assert all(s.start_ms + s.minutes * 60_000 < noon for s in got)
        assert [s.features for s in got] == [s.features for s in planned]


def test_releases_are_measurable_without_bias(fleet: Fleet) -> None:
    """Upgrades are installed on a day of use, early enough that the windows end before P';
    no device that could be upgraded or a control changes its lifecycle inside them."""
    t = fleet.days - 1
    upgraded = [d for d in fleet.devices if d.upgrade]
    assert len(upgraded) > 40
    for d in upgraded:
        day, new = d.upgrade or (0, "")
        assert t - 75 <= day <= t - 65 and day - W >= 0
        plan = d.plan(fleet.origin, fleet.days)
        session = plan[day]
        assert session is not None and session.firmware == new
        assert all(s is None or s.firmware == d.firmware for s in plan[:day])
    current = {dt.current for dt in TYPES}
    for d in (*fleet.devices, *fleet.agents):
        if d.firmware in current and d.first == 0:  # a possible control or upgrader
            assert d.stop is None and d.pause is None
            assert d.fade is None or d.fade > t - 65 + W
    assert not any(d.upgrade for d in fleet.agents)  # an agent keeps its firmware


def test_churned_accounts_stay_on_old_firmware_and_leave_before_the_period(fleet: Fleet) -> None:
    t = fleet.days - 1
    old = {dt.old for dt in TYPES}
    churned = [d for d in fleet.devices if d.account.fate == "churned"]
    assert churned
    for d in churned:
        assert d.firmware in old and d.stop is not None and t - 40 <= d.stop < t - 29
        assert all(s is None for s in d.plan(fleet.origin, fleet.days)[d.stop :])


def test_engaged_accounts_renew_more_often() -> None:
    fleet = build_fleet(3, devices=200, agents=0, n_accounts=80, days=90)
    out = io.StringIO()
    write_outcomes(fleet, out, 3)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    z = {a.id: a.engagement for a in fleet.accounts}
    kept = [z[x["account_id"]] for x in lines if x["outcome"] != "churned"]
    lost = [z[x["account_id"]] for x in lines if x["outcome"] == "churned"]
    assert kept and lost and sum(kept) / len(kept) > sum(lost) / len(lost) + 0.2
    decided = {x["account_id"] for x in lines}
    assert not any(a.fate == "fading" for a in fleet.accounts if a.id in decided)


class FakeAgent:
    def __init__(self) -> None:
        self.sent: list[Mapping[str, Any]] = []

    async def record_many(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        self.sent += events
        return [str(i) for i in range(len(events))]


async def test_live_traffic_repeats_only_what_todays_plans_say(fleet: Fleet) -> None:
    plans = {d.id: d.plan(fleet.origin, fleet.days) for d in fleet.agents}
    # "today": the last day some agent works (accounts work on their own weekdays)
    t = max(day for p in plans.values() for day, s in enumerate(p) if s is not None)
    now = fleet.day_start_ms(t) + 15 * 3_600_000
    fakes = [(FakeAgent(), d) for d in fleet.agents]
    stats = LiveStats()
    rng = random.Random(1)
    for _ in range(200):
        await live_session(fakes, plans, fleet, rng, stats, now)
    assert stats.sessions == 200
    for fake, d in fakes:
        today = plans[d.id][t]
        if today is None:  # not used today (churned, paused, a day off...): silent
            assert fake.sent == []
            continue
        uses = {e["feature"] for e in fake.sent if e["kind"] == "feature_use"}
        assert uses <= set(today.features)
        assert all(fleet.day_start_ms(t) <= int(e["ts"]) <= now for e in fake.sent)
    assert sum(len(f.sent) for f, _ in fakes) == stats.events


async def test_no_live_traffic_from_a_fleet_idle_today(fleet: Fleet) -> None:
    t = fleet.days - 1
    plans = {d.id: [None] * fleet.days for d in fleet.agents}
    fakes = [(FakeAgent(), d) for d in fleet.agents]
    stats = LiveStats()
    await live_session(fakes, plans, fleet, random.Random(1), stats, fleet.day_start_ms(t))
    assert stats.sessions == 0 and all(f.sent == [] for f, _ in fakes)


def test_the_default_live_fleet_works_every_day_of_the_week() -> None:
    """Some accounts work seven days a week: the serving demo (and its check) has live traffic
    whatever the day it starts on."""
    fleet = build_fleet(2026, devices=2400, agents=100, n_accounts=80, days=90)
    t = fleet.days - 1
    plans = [d.plan(fleet.origin, fleet.days + 7) for d in fleet.agents]
    for day in range(t, t + 7):
        assert sum(p[day] is not None for p in plans) >= 5


def _row(metric: str, did: float, holm: bool) -> dict[str, Any]:
    return {"metric": metric, "did": did, "significant_holm": holm}


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ([_row("active_share", 0.16, True), _row("breadth", 0.01, False)], "helps"),
        ([_row("active_share", 0.02, True), _row("breadth", -0.15, True)], "hurts"),
        ([_row("active_share", 0.02, False), _row("breadth", -0.05, False)], "no effect"),
    ],
)
def test_a_release_verdict_is_read_from_the_holm_corrected_differences(
    rows: list[dict[str, Any]], said: str
) -> None:
    assert verdict(rows)[0] == said


def test_every_firmware_of_the_model_has_a_profile() -> None:
    assert {v for dt in TYPES for v in (dt.old, dt.current, dt.new)} == set(FIRMWARE)
