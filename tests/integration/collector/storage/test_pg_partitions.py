"""Raw events partitioned by day on a real PostgreSQL: rows land in their day's partition or the
DEFAULT one, retention drops whole partitions, a partition made late takes its rows out of the
DEFAULT one, and a store at schema v2 (one `events` table) upgrades without losing a row."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from collector.ingest.parse import parse_import_line
from collector.records import EventRow, ParsedMessage
from collector.storage import Pruned, open_store
from collector.storage.postgres.schema import MIGRATIONS
from tests.kits.pes import PgDatabase

pytestmark = pytest.mark.postgres
TZ = ZoneInfo("UTC")
NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
D14 = date(2026, 3, 14)


def imported(device: str, n: int, day: date) -> ParsedMessage:
    """n imported events (no stream: deduplicated by the events_imported index) on `day`."""
    unit = ParsedMessage()
    for i in range(n):
        ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC) + timedelta(seconds=i)
        line = json.dumps({
            "id": f"0190a000-0000-7000-8000-{day:%m%d}{i:08d}", "device_id": device,
            "account_id": "acme", "device_type": "press-x", "firmware_version": "2.1",
            "kind": "feature_use", "feature": "calibrate", "ts": ts.isoformat(),
        })  # fmt: skip
        row = parse_import_line(line, "test", NOW, TZ)
        assert isinstance(row, EventRow)
        unit.events.append(row)
    return unit


async def where(dsn: str) -> dict[str, int]:
    """Rows per partition of `events`."""
    con = await asyncpg.connect(dsn)
    try:
        rows = await con.fetch("SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1")
    finally:
        await con.close()
    return {r[0]: r[1] for r in rows}


@pytest.fixture
async def db() -> AsyncIterator[PgDatabase]:
    async with PgDatabase() as d:
        yield d


async def test_days_go_to_their_partition_and_retention_drops_them(db: PgDatabase) -> None:
    async with open_store(db.dsn) as store:
        assert await store.create_partitions(D14) == 5  # 13th to 17th
        assert await store.create_partitions(D14) == 0  # idempotent
        await store.write([imported("d1", 3, D14 - timedelta(days=1))], NOW)
        await store.write([imported("d1", 4, D14)], NOW)
        await store.write([imported("d1", 2, D14 - timedelta(days=30))], NOW)  # a backfill
        assert await where(db.dsn) == {
            "events_p20260313": 3, "events_p20260314": 4, "events_default": 2,
        }  # fmt: skip
        (again,) = await store.write([imported("d1", 4, D14)], NOW)  # dedup across partitions
        assert (again.stored, again.duplicates) == (0, 4)
        # Before the 14th: the 13th's partition is dropped, the backfill deleted from DEFAULT.
        assert await store.prune_events(D14) == Pruned(deleted=2, dropped_days=1)
        assert await where(db.dsn) == {"events_p20260314": 4}
        assert (await store.stats())["events"] == 4
        # Rollups outlive the raw events.
        feats = await store.features("device", D14 - timedelta(days=1), D14)
        assert sorted((r[4], r[6]) for r in feats) == [("2026-03-13", 3), ("2026-03-14", 4)]


async def test_a_late_partition_takes_its_rows_out_of_default(db: PgDatabase) -> None:
    async with open_store(db.dsn) as store:
        await store.write([imported("d2", 5, D14)], NOW)  # no partition yet: DEFAULT
        assert await where(db.dsn) == {"events_default": 5}
        await store.create_partitions(D14)
        assert await where(db.dsn) == {"events_p20260314": 5}
        (c,) = await store.write([imported("d2", 6, D14)], NOW)  # the 5 moved still dedup
        assert (c.stored, c.duplicates) == (1, 5)


async def test_a_v2_store_upgrades_to_partitions_without_losing_rows(db: PgDatabase) -> None:
    con = await asyncpg.connect(db.dsn)
    try:  # the schema as the previous release left it, with events of two days
        await con.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        for v in (1, 2):
            await con.execute(MIGRATIONS[v - 1])
            await con.execute("INSERT INTO schema_version VALUES ($1)", v)
    finally:
        await con.close()
    old = imported("d3", 3, D14 - timedelta(days=2)).events + imported("d3", 2, D14).events
    await _insert_v2(db.dsn, old)
    async with open_store(db.dsn) as store:  # runs migration 3
        assert await where(db.dsn) == {"events_legacy": 5}
        assert (await store.stats())["events"] == 5
        (c,) = await store.write([imported("d3", 3, D14)], NOW)  # dedup spans the upgrade
        assert (c.stored, c.duplicates) == (1, 2)
        # The legacy partition covers the 12th-14th: no day partition overlaps it.
        assert await store.create_partitions(D14) == 3  # 15th to 17th
        # It straddles the 13th: trimmed by DELETE; then dropped once wholly past.
        assert await store.prune_events(D14 - timedelta(days=1)) == Pruned(deleted=3)
        assert await where(db.dsn) == {"events_legacy": 3}
        assert await store.prune_events(D14 + timedelta(days=1)) == Pruned(0, dropped_days=1)
        assert await where(db.dsn) == {}
    async with open_store(db.dsn):  # and opens again at the current version, each migration once
        con = await asyncpg.connect(db.dsn)
        try:
            versions = await con.fetchrow("SELECT count(*), max(version) FROM schema_version")
            assert versions is not None and tuple(versions) == (len(MIGRATIONS), len(MIGRATIONS))
        finally:
            await con.close()


async def _insert_v2(dsn: str, rows: list[EventRow]) -> None:
    """What a v2 collector wrote: rows straight into the unpartitioned table."""
    con = await asyncpg.connect(dsn)
    try:
        params: list[tuple[Any, ...]] = [
            (*ev[:11], date.fromisoformat(ev.day), *ev[12:], NOW) for ev in rows
        ]
        await con.executemany(
            f"INSERT INTO events VALUES ({', '.join(f'${i}' for i in range(1, 19))})",  # noqa: S608
            params,
        )
    finally:
        await con.close()
