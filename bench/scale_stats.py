"""`GET /v1/stats` and `GET /v1/fleet` on a large PostgreSQL store: the counters against the
count of raw events they replaced.

One fresh database at the collector's schema; N raw events (10 M; --quick 2 M) over ten day
partitions, written with the retention bench's fill (bench/scale_retention.py: 5,000 devices),
the device registry built from them, and the counter rows of a full default retention window
(400 days x tallies.SLOTS writer slots, the most a read sums: the fill's own rows from the
counter trigger, the others 0). Reported (median of warm runs):
- stats_pg_ms: the store part of /v1/stats (`PgStore.stats`); baseline: the previous statements
  (count(*) of events, devices and quarantine, GROUP BY reason), same run, same database;
- fleet_pg_ms: `PgStore.fleet` (the registry and stream summary of /v1/fleet, which also calls
  stats), which never read events and is O(devices + streams).
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import asyncpg

from bench.core import Figure
from bench.query import _median_ms
from bench.scale_retention import _FILL
from collector.storage import tallies
from collector.storage.postgres.store import PgStore

FIRST = date(2026, 3, 5)
DAYS = 10
WINDOW = 400  # storage.retention_days' default: the counter rows a read sums at most
_OLD_STATS = (  # GET /v1/stats' statements before the counters (the baseline)
    "SELECT count(*) FROM events",
    "SELECT count(*) FROM devices",
    "SELECT count(*) FROM quarantine",
    "SELECT coalesce(sum(gap_events), 0)::bigint FROM streams",
    "SELECT coalesce(sum(dropped_events), 0)::bigint FROM streams",
    "SELECT reason, count(*) FROM quarantine GROUP BY reason",
)
_DEVICES = """
INSERT INTO devices (device_id, account_id, device_type, firmware_version, first_seen_ms,
    last_seen_ms, events)
SELECT device_id, 'acme', 'press-x', '2.1', min(ts_ms), max(ts_ms), count(*)
FROM events GROUP BY device_id
"""
# The fill is counted by the counter trigger; pad to every (day, slot) row of a full window.
_COUNTERS = """
INSERT INTO event_counts SELECT d::date, s, 0
FROM generate_series($1::date - $2::integer, $1::date + 9, '1 day') AS d
CROSS JOIN generate_series(0, $3 - 1) AS s
ON CONFLICT DO NOTHING
"""


async def stats_figures(dsn: str, events: int) -> list[Figure]:
    per_day = events // DAYS
    async with PgStore(dsn) as store:
        for k in range(DAYS):
            await store.create_partitions(FIRST + timedelta(days=k))
        con = await asyncpg.connect(dsn, command_timeout=None)
        try:
            t0 = time.perf_counter()
            for k in range(DAYS):
                await con.execute(_FILL, FIRST + timedelta(days=k), per_day)
            await con.execute(_DEVICES)
            await con.execute(_COUNTERS, FIRST, WINDOW - DAYS, tallies.SLOTS)
            await con.execute("VACUUM ANALYZE")
            fill_s = time.perf_counter() - t0
            counters = await con.fetchval("SELECT count(*) FROM event_counts")

            async def old() -> None:
                for sql in _OLD_STATS:
                    await con.fetch(sql)

            old_ms = await _median_ms(old, 3)
        finally:
            await con.close()
        stats = await store.stats()
        assert stats["events"] == per_day * DAYS, stats  # the counters say what the table holds
        new_ms = await _median_ms(store.stats, 5)
        now_ms = int(time.time() * 1000)
        fleet_ms = await _median_ms(lambda: store.fleet(now_ms, 20), 5)
    note = (f"{per_day * DAYS:,} events in {DAYS} day partitions, {stats['devices']:,} devices, "
            f"{counters:,} counter rows; filled in {fill_s:.0f} s")  # fmt: skip
    return [
        Figure("stats_pg_ms", new_ms, "ms", "< 100", baseline=old_ms,
               note=f"{note}; baseline: count(*) of events {old_ms:,.0f} ms"),
        Figure("fleet_pg_ms", fleet_ms, "ms", note=f"PgStore.fleet; {note}"),
    ]  # fmt: skip
