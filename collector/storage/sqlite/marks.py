"""`SqliteStore.analytics_mark` (see collector/storage/marks.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from collector.storage.marks import AnalyticsMark, ProbeKey

Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]

_MARK = (
    "SELECT (SELECT coalesce(max(version), 0) FROM schema_version), "
    "(SELECT coalesce(max(version), 0) FROM activity_bits), "
    "(SELECT coalesce(max(version), 0) FROM feature_bits), "
    "(SELECT coalesce(max(id), 0) FROM analytics_combo), "
    "(SELECT coalesce(max(id), 0) FROM analytics_feature), "
    "(SELECT coalesce(max(version), 0) FROM firmware_runs)"
)
_PROBE = (
    "SELECT a.combo, a.block, a.bits, a.version FROM json_each(?) AS k "
    "JOIN activity_bits AS a ON a.combo = json_extract(k.value, '$[0]') "
    "AND a.block = json_extract(k.value, '$[1]')"
)


async def analytics_mark(fetch: Fetch, probe: Sequence[ProbeKey]) -> AnalyticsMark:
    """One read of maxima (each an index's last entry) and the probed rows by primary key.
    Versions are max + 1 per write and only grow, so a cursor beyond the newest version was
    not handed out by this file."""
    (row,) = await fetch(_MARK, ())
    rows = await fetch(_PROBE, (json.dumps([list(k) for k in probe]),)) if probe else []
    return AnalyticsMark(
        identity="sqlite",
        schema=int(row[0]),
        newest=(int(row[1]), int(row[2])),
        combos=int(row[3]),
        features=int(row[4]),
        read_at_cursor=True,
        probe=tuple((int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows),
        runs=int(row[5]),
    )
