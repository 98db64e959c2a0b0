"""Partition planning (pure): which days to make, which partitions to drop or trim."""

from __future__ import annotations

from datetime import date

from collector.storage.postgres.partitions import Partition, days_to_create, parse_bound, plan_prune

D = date(2026, 3, 14)


def test_bounds_are_read_from_postgresql_text() -> None:
    assert parse_bound("events_p20260314", "FOR VALUES FROM ('2026-03-14') TO ('2026-03-15')") == (
        Partition("events_p20260314", D, date(2026, 3, 15))
    )
    assert parse_bound("events_default", "DEFAULT") == Partition("events_default", None, None)


def test_days_already_covered_are_not_made_again() -> None:
    legacy = Partition("events_legacy", date(2026, 1, 1), date(2026, 3, 15))  # ends on the 14th
    assert days_to_create([legacy, Partition("events_default", None, None)], D) == [
        date(2026, 3, 15), date(2026, 3, 16), date(2026, 3, 17),
    ]  # fmt: skip
    assert days_to_create([], D)[0] == date(2026, 3, 13)  # one day behind, three ahead


def test_prune_drops_whole_days_and_trims_the_rest() -> None:
    parts = [
        Partition("events_default", None, None),
        Partition("events_legacy", date(2026, 1, 1), date(2026, 3, 10)),
        Partition("events_p20260310", date(2026, 3, 10), date(2026, 3, 11)),
        Partition("events_p20260311", date(2026, 3, 11), date(2026, 3, 12)),
    ]
    plan = plan_prune(parts, date(2026, 3, 11))
    assert plan.drop == ["events_legacy", "events_p20260310"]
    assert plan.trim == ["events_default"]
    plan = plan_prune(parts, date(2026, 2, 1))
    assert plan.drop == [] and plan.trim == ["events_default", "events_legacy"]
