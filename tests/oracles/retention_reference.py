"""Weekly retention by cohort, brute force over raw events (docs/analytics.md "Retention"): the
oracle that collector/analytics/retention.py is checked against."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from tests.kits.analytics import Event, activity_of, entity_of, segment_of


def reference_retention(
    events: Sequence[Event],
    group_by: Sequence[str],
    entity: str,
    start: date,
    end: date,
    weeks: int,
    filters: dict[str, str] | None = None,
) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(segment, cohort Monday or "all", k) -> (entities, retained)."""
    acts = activity_of(events, filters=filters)
    days: dict[str, set[date]] = {}
    for a in acts:
        days.setdefault(entity_of(a, entity), set()).add(a["day"])
    lo = start - timedelta(days=start.weekday())
    out: dict[tuple[Any, ...], list[int]] = {}
    for e, mine in days.items():
        first = min(mine)
        # First seen in: the segment of its activity on its first day (the smallest if several).
        segs = sorted(
            (segment_of(a, group_by) for a in acts
             if entity_of(a, entity) == e and a["day"] == first),
            key=lambda s: tuple((v is None, v or "") for v in s),
        )  # fmt: skip
        cohort = first - timedelta(days=first.weekday())
        if not lo <= cohort <= end:
            continue
        for k in range(weeks + 1):
            wk = cohort + timedelta(weeks=k)
            b = wk + timedelta(days=6)
            if b > end:
                break
            kept = any(wk <= d <= b for d in mine)
            for key in ((segs[0], cohort.isoformat(), k), (segs[0], "all", k)):
                row = out.setdefault(key, [0, 0])
                row[0] += 1
                row[1] += kept
    return {k: (v[0], v[1]) for k, v in out.items()}
