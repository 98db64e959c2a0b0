"""What compare()'s bootstrap draws: only the entities that count for some metric, and exactly
the number of resamples asked for."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from tests.unit.collector.analytics.test_compare import event, fleet, run

A, B = "firmware_version:2.0", "firmware_version:2.1"
FIELDS = ("value", "ci_low", "ci_high", "delta", "delta_low", "delta_high", "significant")


def fleets() -> list[Any]:
    rng = random.Random(3)
    return fleet(rng, 20, "2.0", 0.3, 0.5) + fleet(rng, 20, "2.1", 0.3, 0.6)


def test_members_with_nothing_in_the_period_do_not_change_the_intervals() -> None:
    # Devices of both configurations last seen long before P: members, but in no metric's
    # numerator or denominator. Drawing them would only make each resample's size random.
    inert = [
        event(f"old-{k}", date(2026, 1, 1), "session_start", None, fw)
        for k in range(5)
        for fw in ("2.0", "2.1")
    ]
    alone = run(fleets(), A, B, resamples=200, seed=1)
    with_inert = run(fleets() + inert, A, B, resamples=200, seed=1)
    assert with_inert[("a", "pes")]["entities"] == alone[("a", "pes")]["entities"] + 5
    for key, row in alone.items():
        assert {f: with_inert[key][f] for f in FIELDS} == {f: row[f] for f in FIELDS}, key


def test_one_resample_gives_an_interval_of_its_one_value_and_none_gives_no_interval() -> None:
    one = run(fleets(), A, B, resamples=1, seed=1)
    for key, row in one.items():
        assert row["ci_low"] is not None and row["ci_low"] == row["ci_high"], key
    for row in run(fleets(), A, B, resamples=0, seed=1).values():
        assert (row["ci_low"], row["ci_high"], row["delta_low"]) == (None, None, None)
        assert row["value"] is not None
