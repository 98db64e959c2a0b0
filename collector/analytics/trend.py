"""PES and its components per calendar week or month, per segment.

Periods are whole calendar weeks (Monday to Sunday) or months that overlap [start, end]; the
first may begin before `start` so that every period but the last has its full length, and the
last is cut at `end` (usually today: "this week so far"). Each period is a PES period of its
own: its previous period P' and its 30-day windows reach back before it, as pes.md says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

from collector.analytics.cube import Members, aggregate, needed_range, period_stats
from collector.analytics.params import PesParams, PesResult
from collector.analytics.state import Cube

Interval = Literal["week", "month"]
MAX_PERIODS = 400


def periods(start: date, end: date, interval: Interval) -> list[tuple[date, date]]:
    if start > end:
        raise ValueError("start must not be after end")
    out: list[tuple[date, date]] = []
    if interval == "week":
        a = start - timedelta(days=start.weekday())
        while a <= end:
            out.append((a, min(a + timedelta(days=6), end)))
            a += timedelta(days=7)
    elif interval == "month":
        a = start.replace(day=1)
        while a <= end:
            nxt = (a.replace(day=28) + timedelta(days=4)).replace(day=1)
            out.append((a, min(nxt - timedelta(days=1), end)))
            a = nxt
    else:
        raise ValueError(f"interval must be week or month, not {interval!r}")
    if len(out) > MAX_PERIODS:
        raise ValueError(f"at most {MAX_PERIODS} periods")
    return out


def trend_range(spans: Sequence[tuple[date, date]], template: PesParams) -> tuple[int, int]:
    """Ordinals a cube must cover for every period."""
    los, his = zip(*(needed_range(for_period(template, a, b)) for a, b in spans), strict=True)
    return min(los), max(his)


def for_period(template: PesParams, start: date, end: date) -> PesParams:
    return dataclasses.replace(template, start=start, end=end)


def trend(
    cube: Cube, mem: Members, spans: Sequence[tuple[date, date]], template: PesParams
) -> list[tuple[date, date, PesResult]]:
    """(period start, period end, result) for each period and segment, in period order."""
    out: list[tuple[date, date, PesResult]] = []
    for a, b in spans:
        params = for_period(template, a, b)
        out += [(a, b, r) for r in aggregate(period_stats(cube, mem, params))]
    return out
