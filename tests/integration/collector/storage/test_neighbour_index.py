"""The firmware runs' neighbour lookups (an event splitting a run of another configuration) should
seek an index, not scan the raw events table (issue 18). A known problem, expected to fail.

Each lookup reads every stored event inside the write transaction: 2.7 s at a million devices,
during which no device's events are written, and a device sending alternating firmware versions
out of order can cause one per event. The fix measured so far, an index of every event by
(device, ts, event id), costs more ingest CPU than allowed (docs/performance.md "The firmware
runs' neighbour lookup"); branch neighbour-index-full has it. The plans are read from the
database for the exact statements the writers run; the splits themselves are checked against
the stored events in test_firmware_runs.py."""

from __future__ import annotations

from datetime import date

import pytest

from collector.storage import Store
from collector.storage.postgres import PgStore
from collector.storage.postgres import runs as pg_runs
from collector.storage.sqlite import SqliteStore
from collector.storage.sqlite import runs as sqlite_runs
from tests.kits.releases import ev, write_stream

D = date(2026, 3, 2)


async def _sqlite_plan(store: SqliteStore, sql: str) -> str:
    # (device, ts, event id, limit), the key's ts twice where the statement compares it twice
    params = ("a", 15, "x", 2) if sql.count("?") == 4 else ("a", 15, 15, "x", 2)
    async with store.db.execute(f"EXPLAIN QUERY PLAN {sql}", params) as cur:
        return "\n".join(str(r[3]) for r in await cur.fetchall())


async def _pg_plan(store: PgStore, sql: str) -> str:
    async with store.pool.acquire() as con, con.transaction():
        # The tables are nearly empty: a sequential scan would win on cost alone. Off, the plan
        # shows whether an index can serve the statement at all (a scan remains the fallback).
        await con.execute("SET LOCAL enable_seqscan = off")
        rows = await con.fetch(f"EXPLAIN {sql}", "a", 15, "x", 2)
    return "\n".join(str(r[0]) for r in rows)


@pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="no index serves the lookups yet (issue 18)"
)
@pytest.mark.parametrize("below", [True, False], ids=["below", "above"])
async def test_neighbour_lookup_seeks_an_index(store: Store, below: bool) -> None:
    a = [ev("a", D, "1.0", n) for n in (0, 10, 20, 30)]
    await write_stream(store, a, [1, 2, 3, 4])
    if isinstance(store, SqliteStore):
        plan = await _sqlite_plan(
            store, sqlite_runs.EVENT_BELOW if below else sqlite_runs.EVENT_ABOVE
        )
        # An index search bounded by the device and the key (not only the device).
        assert plan.startswith("SEARCH events USING") and "(device_id=? AND" in plan, plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert isinstance(store, PgStore)
        await store.create_partitions(D)  # day partitions besides DEFAULT: each is searched
        plan = await _pg_plan(store, pg_runs.EVENT_BELOW if below else pg_runs.EVENT_ABOVE)
        # Every partition's index, bounded by the key and read in order: no scan, no sort.
        scans = [line for line in plan.splitlines() if "Scan" in line]
        assert len(scans) > 1 and all("Index Scan" in s for s in scans), plan
        conds = [line for line in plan.splitlines() if "Index Cond" in line]
        assert len(conds) == len(scans) and all("ROW(ts_ms" in c for c in conds), plan
        assert "->  Sort" not in plan, plan
