"""`stats()` reads counter rows, not the tables: on both backends the counts must equal what the
tables hold (a real count(*)) across resends, overlaps, imports, quarantine, several days,
concurrent writers and retention, and an upgraded store must start with the right counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from collector.ingest.parse import parse_batch, parse_import_line
from collector.records import EventRow, ParsedMessage
from collector.storage import Store, open_store, tallies
from collector.storage.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from collector.storage.postgres.store import PgStore
from collector.storage.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from collector.storage.sqlite.store import SqliteStore
from tests.integration.collector.storage.test_backends import NOW, UTC, batch
from tests.kits.pes import PgDatabase

D14 = date(2026, 3, 14)


def imported(device: str, ids: range, day: date) -> ParsedMessage:
    """Imported events (no stream: deduplicated by their id) on `day`."""
    unit = ParsedMessage()
    for i in ids:
        line = json.dumps({
            "id": f"0190a000-0000-7000-8000-{day:%m%d}{i:08d}", "device_id": device,
            "account_id": "acme", "device_type": "press-x", "firmware_version": "2.1",
            "kind": "feature_use", "feature": "calibrate", "ts": f"{day}T12:00:{i % 60:02d}Z",
        })  # fmt: skip
        row = parse_import_line(line, "test", NOW, UTC)
        assert isinstance(row, EventRow)
        unit.events.append(row)
    return unit


def junk(device: str, payload: bytes = b'{"nope": 1}') -> ParsedMessage:
    return parse_batch(f"pes/v1/dev/{device}/events", payload, None, NOW, UTC)


async def actual(store: Store) -> dict[str, Any]:
    """What the tables hold, counted the slow way, on a connection of the test's own (not
    through the store, whose reads are what is checked)."""
    sqls = ("SELECT count(*) FROM events", "SELECT count(*) FROM devices",
            "SELECT count(*) FROM quarantine")  # fmt: skip
    reasons = "SELECT reason, count(*) FROM quarantine GROUP BY reason"
    if isinstance(store, PgStore):
        conn = await asyncpg.connect(store.dsn)
        try:
            vals = [await conn.fetchval(s) for s in sqls]
            rows = [tuple(r) for r in await conn.fetch(reasons)]
        finally:
            await conn.close()
    else:
        assert isinstance(store, SqliteStore)
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            vals = [db.execute(s).fetchone()[0] for s in sqls]
            rows = db.execute(reasons).fetchall()
    return {"events": vals[0], "devices": vals[1], "quarantined": vals[2],
            "quarantine_by_reason": {r[0]: r[1] for r in rows}}  # fmt: skip


async def assert_exact(store: Store) -> dict[str, Any]:
    stats = await store.stats()
    assert {k: stats[k] for k in ("events", "devices", "quarantined", "quarantine_by_reason")} == (
        await actual(store)
    )
    return stats


async def test_counts_stay_exact_across_resends_imports_and_quarantine(store: Store) -> None:
    await store.write([batch("c1", 1, 10), batch("c1", 5, 15), batch("c1", 1, 15)], NOW)
    await store.write([batch("c1", 1, 20), batch("c2", 1, 5, stream="s9")], NOW)  # resends
    older = imported("c3", range(4), D14 - timedelta(days=3))
    again = imported("c3", range(6), D14 - timedelta(days=3))  # 4 of them seen
    await store.write([older, again, imported("c3", range(2), D14)], NOW)
    await store.write([junk("c4"), junk("c5", b"\xff"), junk("c4")], NOW)
    stats = await assert_exact(store)
    assert stats["events"] == 20 + 5 + 6 + 2
    assert stats["quarantined"] == 3 and sum(stats["quarantine_by_reason"].values()) == 3


async def test_retention_takes_the_counts_of_what_it_removes(store: Store) -> None:
    old = D14 - timedelta(days=40)
    await store.write([imported("r1", range(7), old), imported("r1", range(3), D14)], NOW)
    await store.write([junk("r2")], NOW - 45 * 86_400_000)  # quarantined 45 days ago
    await store.write([junk("r2")], NOW)
    assert (await assert_exact(store))["events"] == 10
    await store.prune_events(D14 - timedelta(days=30))
    stats = await assert_exact(store)
    assert stats["events"] == 3 and stats["quarantined"] == 1
    await store.write([imported("r1", range(2), old)], NOW)  # a backfill older than retention
    assert (await assert_exact(store))["events"] == 5
    await store.prune_events(D14 + timedelta(days=1))  # everything
    assert (await assert_exact(store))["events"] == 0


@pytest.mark.postgres
async def test_two_collectors_and_retention_racing_keep_counts_exact() -> None:
    """Two stores (two collectors' pools) write overlapping resends of the same streams and
    late events of pruned days while retention runs beside them."""
    async with PgDatabase() as db, PgStore(db.dsn) as a, PgStore(db.dsn) as b:
        await a.create_partitions(D14)
        old = D14 - timedelta(days=20)

        async def writer(store: PgStore, k: int) -> None:
            for i in range(12):
                dev = f"w{i % 4}"
                await store.write([batch(dev, 1, 10 * (i + 1)), batch(dev, 5 * i + 1, 5 * i + 9)],
                                  NOW)  # fmt: skip
                await store.write([imported(f"o{k}", range(i * 3, i * 3 + 5), old)], NOW)
                await store.write([junk(dev)], NOW)

        async def pruner() -> None:
            for _ in range(8):
                await a.prune_events(old + timedelta(days=1))
                await asyncio.sleep(0.01)

        await asyncio.gather(writer(a, 1), writer(b, 2), pruner())
        stats = await assert_exact(a)
        assert stats["quarantined"] == 24
        await a.prune_events(old + timedelta(days=1))
        stats = await assert_exact(b)
        assert stats["events"] == 90 + 100 + 110 + 120  # the four streams, whole, each once


@pytest.mark.postgres
async def test_concurrent_writers_use_separate_counter_rows() -> None:
    async with PgDatabase() as db, PgStore(db.dsn, min_size=2, max_size=2) as store:
        await asyncio.gather(*(store.write([batch(f"p{i}", 1, 5)], NOW) for i in range(8)))
        con = await asyncpg.connect(db.dsn)
        try:
            rows = await con.fetch("SELECT slot, events FROM event_counts")
        finally:
            await con.close()
        assert sum(r["events"] for r in rows) == 40
        assert all(0 <= r["slot"] < tallies.SLOTS for r in rows)


@pytest.mark.postgres
async def test_a_v3_postgres_store_counts_its_existing_rows_on_upgrade() -> None:
    async with PgDatabase() as db:
        con = await asyncpg.connect(db.dsn)
        try:
            await con.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            for v in (1, 2, 3):
                await con.execute(PG_MIGRATIONS[v - 1])
                await con.execute("INSERT INTO schema_version VALUES ($1)", v)
            await con.execute(
                "INSERT INTO events SELECT 'u1', 'e' || i, NULL, NULL, 'feature_use', 'x', NULL, "
                "NULL, 0, 0, 'wall', DATE '2026-03-10' + i % 3, 't', 'f', 'a', '{}', '{}', 0 "
                "FROM generate_series(1, 30) AS i"
            )
            await con.execute(
                "INSERT INTO quarantine (received_ms, topic, reason, detail, raw) "
                "SELECT $1::bigint + i * 3600000, 't', 'r' || i % 2, '', '' "
                "FROM generate_series(1, 5) AS i",
                NOW,
            )
        finally:
            await con.close()
        async with open_store(db.dsn) as store:
            stats = await assert_exact(store)
            assert stats["events"] == 30 and stats["quarantine_by_reason"] == {"r0": 2, "r1": 3}


async def test_a_v3_sqlite_store_counts_its_existing_rows_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for v in (1, 2, 3):
        con.executescript(SQLITE_MIGRATIONS[v - 1])
        con.execute("INSERT INTO schema_version VALUES (?)", (v,))
    for i in range(30):
        con.execute(
            "INSERT INTO events VALUES ('u1', ?, NULL, NULL, 'feature_use', 'x', NULL, NULL, 0, "
            "0, 'wall', ?, 't', 'f', 'a', '{}', '{}', 0)",
            (f"e{i}", f"2026-03-1{i % 3}"),
        )
    for i in range(5):
        con.execute(
            "INSERT INTO quarantine (received_ms, topic, reason, detail, raw) "
            "VALUES (?, 't', ?, '', x'')",
            (NOW + i * 3_600_000, f"r{i % 2}"),
        )
    con.commit()
    con.close()
    async with open_store(f"sqlite:///{path}") as store:
        stats = await assert_exact(store)
        assert stats["events"] == 30 and stats["quarantine_by_reason"] == {"r0": 3, "r1": 2}


@pytest.mark.postgres
async def test_postgres_counts_every_writer_and_not_a_partition_move() -> None:
    """Rows inserted by another writer (a previous version's collector during a rolling upgrade)
    are counted; rows a late partition takes out of DEFAULT are not counted again."""
    async with PgDatabase() as db, PgStore(db.dsn) as store:
        await store.write([imported("m1", range(5), D14)], NOW)  # no partition yet: DEFAULT
        con = await asyncpg.connect(db.dsn)
        try:
            await con.execute(
                "INSERT INTO events SELECT 'm2', 'e' || i, 's', i, 'feature_use', 'x', NULL, "
                "NULL, 0, 0, 'wall', $1::date, 't', 'f', 'a', '{}', '{}', 0 "
                "FROM generate_series(1, 7) AS i",
                D14,
            )
            await con.execute(
                "INSERT INTO quarantine (received_ms, topic, reason, detail, raw) "
                "VALUES ($1, 't', 'bad_envelope', '', '')",
                NOW,
            )
        finally:
            await con.close()
        assert (await assert_exact(store))["events"] == 12
        await store.create_partitions(D14)  # moves the 12 rows into events_p20260314
        assert (await assert_exact(store))["events"] == 12


@pytest.mark.postgres
async def test_partition_drops_racing_writers_keep_counts_exact() -> None:
    """Retention dropping the day partitions that writers are inserting into (then DEFAULT)."""
    async with PgDatabase() as db, PgStore(db.dsn) as a, PgStore(db.dsn) as b:
        old = D14 - timedelta(days=20)
        await a.create_partitions(old)  # old - 1 .. old + 3

        async def writer(store: PgStore, k: int) -> None:
            for i in range(10):
                await store.write([imported(f"x{k}", range(i * 4, i * 4 + 6), old)], NOW)
                await store.write([imported(f"y{k}", range(i * 2, i * 2 + 3), D14)], NOW)

        async def pruner() -> None:
            for _ in range(6):
                await b.prune_events(old + timedelta(days=1))
                await asyncio.sleep(0.005)

        await asyncio.gather(writer(a, 1), writer(b, 2), pruner())
        await assert_exact(a)
        await b.prune_events(old + timedelta(days=1))
        assert (await assert_exact(a))["events"] == 2 * 21  # ids 0..20 on the 14th, per device
