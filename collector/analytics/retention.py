"""Weekly retention by cohort: of the entities first active in a week (their cohort), the share
active again k weeks later, per group (e.g. the firmware they were first seen on).

Definitions (the specs are silent; docs/analytics.md states these for users):
- an entity's first active day is over all history (the store's `first`), so a cohort holds
  only entities new in that week, whatever the filters' day range;
- weeks run Monday to Sunday; the cohort is the week of the first active day; week k of a
  cohort is the k-th week after it; week 0 is always 100%;
- retained in week k: active on some day of that week, in any segment (an entity that upgrades
  its firmware stays retained; its group is the one it was first seen in);
- only weeks that have ended by `end` are reported, so a week in progress never shows a drop;
- `rate_ci` is the 95% Wilson interval; the `all` rows pool every cohort that has reached
  week k (the curve to draw per group).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from collector.analytics.cube import members
from collector.analytics.outcomes_stats import wilson
from collector.analytics.state import Cube

MAX_WEEKS = 52


def retention_range(start: date, end: date) -> tuple[int, int]:
    """Ordinals the cube must cover: from the Monday of `start`'s week to `end`."""
    return start.toordinal() - start.weekday(), end.toordinal()


def _row(
    group_by: Sequence[str], segment: Sequence[str | None], cohort: str, week: int, n: int, k: int
) -> dict[str, Any]:
    ci = wilson(k, n)
    return {
        **dict(zip(group_by, segment, strict=True)),
        "cohort": cohort,
        "week": week,
        "entities": n,
        "retained": k,
        "rate": k / n if n else None,
        "rate_ci": list(ci) if ci else None,
    }


def retention(
    cube: Cube,
    group_by: Sequence[str],
    entity: str,
    start: date,
    end: date,
    weeks: int = 12,
) -> list[dict[str, Any]]:
    """Rows per (group, cohort week, k) for cohorts whose week starts between the Monday of
    `start`'s week and `end`, k = 0..min(weeks, weeks ended by `end`), and per group the
    pooled rows (cohort "all") after its cohorts. Sorted by group, cohort, week."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be 1 to {MAX_WEEKS}")
    lo, hi = retention_range(start, end)
    ent = members(cube, (), entity)  # one member per entity: all its activity
    seg = members(cube, group_by, entity)
    # The group of an entity: the segment of its earliest member (ties: the first segment).
    order = np.lexsort((seg.seg, seg.first, seg.entity_codes))
    codes = seg.entity_codes[order]
    head = np.ones(len(order), np.bool_)
    head[1:] = codes[1:] != codes[:-1]
    group_of = np.zeros(int(codes.max()) + 1 if len(codes) else 0, np.int64)
    group_of[codes[head]] = seg.seg[order][head]
    group = group_of[ent.entity_codes]

    first = ent.first
    monday = first - (first + 6) % 7  # date.fromordinal(1) is a Monday: ordinal % 7 == 1
    in_range = (monday >= lo) & (monday <= hi) & (first <= hi)
    counts: dict[tuple[int, int, int], list[int]] = {}  # (segment, cohort, k) -> [n, retained]
    for k in range(weeks + 1):
        a = monday + 7 * k
        idx = np.flatnonzero(in_range & (a + 6 <= hi))  # cohorts whose week k has ended
        if not len(idx):
            continue
        active = np.zeros(len(idx), np.bool_)
        for wk in np.unique(a[idx]).tolist():  # each calendar week once
            at = a[idx] == wk
            active[at] = ent.active_between(wk, wk + 6)[idx[at]]
        keys, inverse = np.unique(
            np.stack([group[idx], monday[idx]], axis=1), axis=0, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        sizes = np.bincount(inverse, minlength=len(keys)).tolist()
        kept = np.bincount(inverse, weights=active, minlength=len(keys)).astype(np.int64).tolist()
        for (s, cohort), n, r in zip(keys.tolist(), sizes, kept, strict=True):
            counts[s, cohort, k] = [n, r]
    keyed: list[tuple[int, int, int, dict[str, Any]]] = []
    pooled: dict[tuple[int, int], list[int]] = {}
    for (s, cohort, k), (n, r) in counts.items():
        row = _row(group_by, seg.segments[s], date.fromordinal(cohort).isoformat(), k, n, r)
        keyed.append((s, cohort, k, row))
        p = pooled.setdefault((s, k), [0, 0])
        p[0] += n
        p[1] += r
    last = hi + 1  # the pooled rows come after each group's cohorts
    for (s, k), (n, r) in pooled.items():
        keyed.append((s, last, k, _row(group_by, seg.segments[s], "all", k, n, r)))
    keyed.sort(key=lambda t: t[:3])
    return [row for *_, row in keyed]
