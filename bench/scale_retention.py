"""Retention on PostgreSQL: dropping a day partition against DELETE of the same rows.

One fresh database at the collector's schema; N rows of one day written twice: once into that
day's partition (made by the housekeeping job's code), once into a day without a partition
(the DEFAULT partition). `prune_events` then drops the first and DELETEs the second. Reported:
seconds and WAL bytes per million raw events each way; the DELETE is the same-run baseline.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import asyncpg

from bench.core import Figure
from collector.storage.postgres.store import PgStore

DAY = date(2026, 3, 14)
_FILL = """
INSERT INTO events SELECT 'gw-' || (i % 5000), 'e-' || i, 's1', i, 'feature_use', 'calibrate',
    NULL, NULL, 1773480000000 + i, 1773480000000 + i, 'wall', $1::date, 'press-x', '2.1',
    'acme', '{"line":"a"}', '{}', 1773480000000
FROM generate_series(1, $2) AS i
"""


async def _timed_prune(store: PgStore, dsn: str, before: date) -> tuple[float, int]:
    con = await asyncpg.connect(dsn)
    try:
        lsn0 = await con.fetchval("SELECT pg_current_wal_lsn()")
        t0 = time.perf_counter()
        await store.prune_events(before)
        seconds = time.perf_counter() - t0
        wal = await con.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", lsn0)
    finally:
        await con.close()
    return seconds, int(wal)


async def retention_figures(dsn: str, rows: int) -> list[Figure]:
    async with PgStore(dsn) as store:
        await store.create_partitions(DAY)
        old = DAY - timedelta(days=60)  # no partition: the DEFAULT one
        con = await asyncpg.connect(dsn)
        try:
            await con.execute(_FILL, DAY, rows)
            await con.execute(_FILL, old, rows)
            await con.execute("CHECKPOINT")
        finally:
            await con.close()
        del_s, del_wal = await _timed_prune(store, dsn, old + timedelta(days=1))
        drop_s, drop_wal = await _timed_prune(store, dsn, DAY + timedelta(days=1))
    per_m = 1_000_000 / rows
    note = f"{rows:,} events a day; DELETE {del_s:.2f} s, {del_wal / 1e6:.0f} MB WAL"
    return [
        Figure("retention_drop_s_per_m_events", drop_s * per_m, "s/M events",
               baseline=del_s * per_m, note=note),
        Figure("retention_drop_wal_mb_per_m_events", drop_wal * per_m / 1e6, "MB/M events",
               baseline=del_wal * per_m / 1e6, note="baseline: DELETE from the DEFAULT partition"),
    ]  # fmt: skip
