"""The pure part of the stored counts: per-day columns and the UTC day of a received item."""

from __future__ import annotations

from datetime import date

from collector.storage.tallies import (
    day_start_ms,
    event_days_of,
    reason_days,
    received_day,
    stats_dict,
)


def test_event_days_are_counted_per_day_in_day_order() -> None:
    days = ["2026-03-14", "2026-03-12", "2026-03-14", "2026-03-14"]
    assert event_days_of(days) == (["2026-03-12", "2026-03-14"], [1, 3])
    assert event_days_of([]) == ([], [])


def test_received_day_and_day_start_agree_at_the_boundary() -> None:
    start = day_start_ms(date(2026, 3, 14))
    assert start == 1_773_446_400_000
    assert received_day(start) == "2026-03-14"
    assert received_day(start - 1) == "2026-03-13"  # so `received_ms < start` is `day < 14th`
    assert received_day(start + 86_400_000 - 1) == "2026-03-14"


def test_reasons_are_counted_in_key_order() -> None:
    got = reason_days(["too_many_events", "bad_envelope", "bad_envelope"], 1_773_480_000_000)
    assert got == (["2026-03-14"] * 2, ["bad_envelope", "too_many_events"], [2, 1])


def test_stats_dict_makes_every_figure_an_int() -> None:
    from decimal import Decimal  # PostgreSQL's sum() of bigint

    out = stats_dict((Decimal(5), 2, Decimal(0), Decimal(3), 0), [("bad_envelope", Decimal(4))])
    assert out == {"events": 5, "devices": 2, "quarantined": 0, "gap_events": 3,
                   "dropped_events": 0, "quarantine_by_reason": {"bad_envelope": 4}}  # fmt: skip
    assert all(type(v) is int for k, v in out.items() if k != "quarantine_by_reason")
