"""The firmware runs' split read (the stored events of the runs an event of another
configuration cuts) seeks an index, not a scan of the raw events table (issue 18).

`events` has no index by device (the one measured on every event by (device, ts, event id)
costs more ingest CPU than allowed: docs/performance.md "The firmware runs' neighbour lookup";
branch neighbour-index-full has it). Instead a device is marked at its first split and its
events kept in `split_events`, indexed by device and key (migration 8, both backends): the read
seeks there. The plans are read from the database for the exact statements the writers run;
the splits themselves are checked against the stored events in test_firmware_runs.py and
test_split_events.py."""

from __future__ import annotations

from datetime import date

from collector.storage import Store
from collector.storage.postgres import PgStore
from collector.storage.postgres import runs as pg_runs
from collector.storage.sqlite import SqliteStore
from collector.storage.sqlite import runs as sqlite_runs
from tests.kits.releases import ev, write_stream

D = date(2026, 3, 2)


async def _sqlite_plan(store: SqliteStore) -> str:
    params = ("a", 10, 40)  # the device, the span's timestamps
    sql = f"EXPLAIN QUERY PLAN {sqlite_runs.SPAN_EVENTS}"
    async with store.db.execute(sql, params) as cur:
        return "\n".join(str(r[3]) for r in await cur.fetchall())


async def _pg_plan(store: PgStore) -> str:
    async with store.pool.acquire() as con, con.transaction():
        # The tables are nearly empty: a sequential scan would win on cost alone. Off, the plan
        # shows whether an index can serve the statement at all (a scan remains the fallback).
        await con.execute("SET LOCAL enable_seqscan = off")
        rows = await con.fetch(f"EXPLAIN {pg_runs.SPAN_EVENTS}", "a", 10, 40)
    return "\n".join(str(r[0]) for r in rows)


async def test_split_read_seeks_an_index(store: Store) -> None:
    a = [ev("a", D, "1.0", n) for n in (0, 10, 20, 30)]
    await write_stream(store, a, [1, 2, 3, 4])
    if isinstance(store, SqliteStore):
        plan = await _sqlite_plan(store)
        # An index search bounded by the device and the timestamps (not only the device).
        assert plan.startswith("SEARCH split_events USING"), plan
        assert "(device_id=? AND ts_ms>? AND ts_ms<?)" in plan and "SCAN" not in plan, plan
    else:
        assert isinstance(store, PgStore)
        plan = await _pg_plan(store)
        # The primary key's index, bounded by the device and the timestamps: no scan.
        scans = [line for line in plan.splitlines() if "Scan" in line]
        assert scans and all("Index" in s and "split_events" in s for s in scans), plan
        conds = [line for line in plan.splitlines() if "Index Cond" in line]
        assert conds and all("ts_ms" in c and "device_id" in c for c in conds), plan
