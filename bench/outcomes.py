"""Outcomes (issue #15): how long `pes-collector outcomes report` takes for 10,000 accounts.

bench.query's synthetic fleet (90 days), with two devices per account (20,000 devices for
10,000 accounts; --quick 1,000 accounts, --smoke 50), in SQLite. One outcome per account, its
day spread over `SPREAD_DAYS` distinct days, so the report computes health once per distinct
score period (default lead and length: 30 days). Figures:
- outcomes_import_ms: `import_outcomes` of one JSON line per account (parse + one transaction);
- outcomes_report_ms: `outcome_report`, as `outcomes report` and GET /v1/outcomes/report run
  it (the first call of the process: it also loads the analytics tables);
- outcomes_report_warm_ms: the same report again (tables already in memory);
- outcomes_health_one_period_ms: one health computation over the whole fleet (warm), what
  each distinct period costs.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.core import Figure, Size
from bench.query import _ROLLUPS, END, SETTINGS, fleet_events
from collector.analytics.outcomes import score_period
from collector.reports import (
    PesQuery,
    health_rows,
    import_outcomes,
    make_outcome_query,
    outcome_report,
)
from collector.storage import open_store

SPREAD_DAYS = 30


def _say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


async def _fill(store: Any, accounts: int) -> int:
    """Events and rollups of 2 * accounts devices; device k belongs to account k // 2."""
    db = store.db
    n = 0
    for rows in fleet_events(2 * accounts):
        mine = [(*r[:7], f"acct{int(r[0][3:]) // 2}", *r[8:]) for r in rows]
        await db.executemany(
            "INSERT INTO events (device_id, event_id, kind, feature, day, device_type, "
            "firmware_version, account_id, labels, ts_ms, wall_ms, clock_method, props, "
            "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 'wall', '{}', 0)",
            mine,
        )
        n += len(mine)
    for sql in _ROLLUPS:
        await db.execute(sql)
    await db.commit()
    return n


def _lines(accounts: int, spread: int) -> list[str]:
    rng = random.Random(15)
    last = END + timedelta(days=30)  # P = the last 30 days of history
    return [
        json.dumps(
            {
                "account_id": f"acct{a}",
                "outcome": rng.choice(["renewed", "expanded", "churned"]),
                "date": (last - timedelta(days=rng.randrange(spread))).isoformat(),
            }
        )
        for a in range(accounts)
    ]


async def run(size: Size) -> list[Figure]:
    accounts = size.pick(10_000, 1_000, 50)
    unit = f"ms ({accounts:,} accounts)"
    q = make_outcome_query()
    with tempfile.TemporaryDirectory(prefix="pes-bench-outcomes-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'o.db'}"
        async with open_store(url) as store:
            t0 = time.perf_counter()
            n = await _fill(store, accounts)
            _say(f"{n:,} events and rollups in {time.perf_counter() - t0:.0f} s")
            t0 = time.perf_counter()
            stored = await import_outcomes(store, _lines(accounts, SPREAD_DAYS))
            import_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            result = await outcome_report(store, SETTINGS, q)
            report_ms = (time.perf_counter() - t0) * 1000
            assert result["n"] == stored == accounts, (result["n"], stored)
            t0 = time.perf_counter()
            await outcome_report(store, SETTINGS, q)
            warm_ms = (time.perf_counter() - t0) * 1000
            # What each distinct period costs: one health computation (warm tables).
            start, end = score_period(END + timedelta(days=30))
            t0 = time.perf_counter()
            await health_rows(store, SETTINGS, PesQuery(start, end, (), "account"))
            one_ms = (time.perf_counter() - t0) * 1000
    _say(
        f"import {import_ms:.0f} ms, report {report_ms:.0f} ms ({SPREAD_DAYS} periods), "
        f"again {warm_ms:.0f} ms, "
        f"health of one period {one_ms:.0f} ms"
    )
    note = f"SQLite, {2 * accounts:,} devices x 90 days"
    return [
        Figure("outcomes_import_ms", import_ms, unit, note=f"{accounts:,} JSON lines"),
        Figure(
            "outcomes_report_ms",
            report_ms,
            unit,
            note=f"{note}, {SPREAD_DAYS} distinct periods, first call",
        ),
        Figure("outcomes_report_warm_ms", warm_ms, unit, note=f"{note}, second call"),
        Figure("outcomes_health_one_period_ms", one_ms, unit, note=f"{note}, warm"),
    ]
