"""Data for the PES overview chart: DAU/WAU/MAU per day, adoption per core feature, and new and
recovered vs dropped entities per period with the quick ratio and net growth."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from collector.analytics.cube import Members, windows
from collector.analytics.params import MAU_DAYS, WAU_DAYS, PesResult
from collector.analytics.trend import trend


def series(mem: Members, start: date, end: date) -> list[tuple[date, int, list[int]]]:
    """(segment index, day, [DAU, WAU, MAU]) for each segment and day of [start, end]."""
    s, e = start.toordinal(), end.toordinal()
    counts = []
    for width in (1, WAU_DAYS, MAU_DAYS):
        win = windows(mem, s, e, width)  # (members, days)
        counts.append(
            np.add.reduceat(win.astype(np.int64), mem.starts, axis=0)
            if len(mem.entity)
            else np.zeros((0, e - s + 1), np.int64)
        )
    out = []
    for k in range(len(mem.segments)):
        for j in range(e - s + 1):
            out.append((start + timedelta(days=j), k, [int(c[k, j]) for c in counts]))
    return out


def lifecycle_row(a: date, b: date, r: PesResult) -> dict[str, Any]:
    moved = r.new + r.recovered
    return {
        "period_start": a.isoformat(),
        "period_end": b.isoformat(),
        "active": r.active,
        "new": r.new,
        "recovered": r.recovered,
        "dropped": r.dropped,
        "quick_ratio": r.quick_ratio,
        "net_growth": moved - r.dropped,
    }


__all__ = ["lifecycle_row", "series", "trend"]
