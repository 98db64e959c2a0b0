"""Weekly retention by cohort: hand-computed cases and random fleets against the brute-force
reference in tests/oracles/retention_reference.py."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest

from collector.analytics.outcomes_stats import wilson
from collector.analytics.retention import retention, retention_range
from tests.kits.analytics import Event, random_fleet, state_from_events
from tests.oracles.retention_reference import reference_retention

MON = date(2026, 3, 2)  # a Monday


def _ev(device: str, day: date, fw: str = "1.0", account: str = "a1") -> Event:
    return {
        "id": f"{device}-{day}-{fw}", "device_id": device, "account_id": account,
        "device_type": "press-x", "firmware_version": fw, "kind": "feature_use",
        "feature": "calibrate", "ts": f"{day}T10:00:00Z",
    }  # fmt: skip


def _run(
    events: list[Event],
    group_by: tuple[str, ...],
    start: date,
    end: date,
    weeks: int,
    entity: str = "device",
    filters: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    cube = state_from_events(events).view(*retention_range(start, end), filters or {})
    return retention(cube, group_by, entity, start, end, weeks)


def test_hand_computed_cohorts() -> None:
    d = timedelta(days=1)
    events = [
        # Cohort of MON: a (Wed; back in week 1 and week 3), b (Mon; never again),
        # c (Sun; upgraded in week 1, still retained, grouped by its first firmware).
        _ev("a", MON + 2 * d), _ev("a", MON + 8 * d), _ev("a", MON + 21 * d),
        _ev("b", MON),
        _ev("c", MON + 6 * d), _ev("c", MON + 7 * d, fw="2.0"),
        # Cohort of the next week: d on 2.0.
        _ev("d", MON + 7 * d, fw="2.0"), _ev("d", MON + 14 * d, fw="2.0"),
    ]  # fmt: skip
    end = MON + 20 * d  # a Sunday: weeks 0-2 of MON have ended, week 3 has not
    rows = _run(events, (), MON, end, weeks=5)
    got = {(r["cohort"], r["week"]): (r["entities"], r["retained"]) for r in rows}
    assert got == {
        ("2026-03-02", 0): (3, 3), ("2026-03-02", 1): (3, 2), ("2026-03-02", 2): (3, 0),
        ("2026-03-09", 0): (1, 1), ("2026-03-09", 1): (1, 1),
        ("all", 0): (4, 4), ("all", 1): (4, 3), ("all", 2): (3, 0),
    }  # fmt: skip
    assert [r["cohort"] for r in rows][-3:] == ["all"] * 3  # pooled rows come last
    one = next(r for r in rows if r["cohort"] == "2026-03-02" and r["week"] == 1)
    assert one["rate"] == pytest.approx(2 / 3)
    assert one["rate_ci"] == list(wilson(2, 3) or ())
    by_fw = _run(events, ("firmware_version",), MON, end, weeks=5)
    firsts = {(r["firmware_version"], r["cohort"], r["week"]): r["retained"] for r in by_fw}
    assert firsts[("1.0", "2026-03-02", 1)] == 2  # c counts in 1.0 although it ran 2.0 then
    assert ("2.0", "2026-03-02", 0) not in firsts
    assert firsts[("2.0", "2026-03-09", 1)] == 1
    # A cohort before the start's week is left out; a start mid-week takes its whole week.
    later = _run(events, (), MON + 9 * d, end, weeks=5)
    assert {r["cohort"] for r in later} == {"2026-03-09", "all"}
    # While a cohort's own week is still open there is nothing to report for it.
    assert _run(events, (), MON, MON + 5 * d, weeks=5) == []


def test_weeks_are_bounded() -> None:
    events = [_ev("a", MON)]
    with pytest.raises(ValueError, match="weeks must be 1 to 52"):
        _run(events, (), MON, MON + timedelta(days=60), weeks=53)
    assert _run([], (), MON, MON + timedelta(days=60), weeks=4) == []


def _staggered_fleet(rng: random.Random) -> list[Event]:
    """Devices installed on random days, used with their own probability, some upgrading
    (also on their first day), some on a second account's devices; plus random_fleet's
    duplicates, heartbeats and time-zone offsets."""
    events = random_fleet(rng, history=70, devices=rng.randint(5, 10))
    for n in range(rng.randint(20, 40)):
        born, p = rng.randrange(70), rng.uniform(0.05, 0.8)
        upgrade = born + rng.choice([0, rng.randrange(1, 40), 999])
        account = f"acct{rng.randrange(6)}"
        for day in range(born, 70):
            if day == born or rng.random() < p:
                fw = "2.0" if day >= upgrade else "1.0"
                ev = _ev(f"s{n}", date(2026, 1, 1) + timedelta(days=day), fw, account)
                events.append(ev | {"labels": {"site": rng.choice(["north", "south"])}})
                if day == upgrade == born:  # two firmwares on the first day
                    events.append(_ev(f"s{n}", date(2026, 1, 1) + timedelta(days=day), "1.0",
                                      account))  # fmt: skip
    return events


def test_the_fleets_are_not_trivial() -> None:
    """The property test below must see cohorts that partly return, or it proves little."""
    rows = _run(_staggered_fleet(random.Random(1)), (), date(2026, 1, 1), date(2026, 3, 11), 8)
    assert len({r["cohort"] for r in rows}) >= 8
    assert sum(0 < r["retained"] < r["entities"] for r in rows) >= 10


@pytest.mark.parametrize("seed", range(12))
def test_random_fleets_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    events = _staggered_fleet(rng)
    group_by = rng.choice([(), ("firmware_version",), ("device_type", "label:site")])
    entity = rng.choice(["device", "account"])
    filters = rng.choice([None, {"device_type": "press-x"}])
    start = date(2026, 1, 1) + timedelta(days=rng.randrange(-7, 21))  # history starts then
    end = start + timedelta(days=rng.randrange(0, 70))
    weeks = rng.randint(1, 10)
    rows = _run(events, group_by, start, end, weeks, entity, filters)
    got = {
        (tuple(r[a] for a in group_by), r["cohort"], r["week"]): (r["entities"], r["retained"])
        for r in rows
    }
    assert got == reference_retention(events, group_by, entity, start, end, weeks, filters)
