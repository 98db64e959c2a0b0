"""Firmware runs kept at ingest (migration 5) on both backends: late events inside a run,
out-of-order arrival splitting a run, exact resends, and equality with `runs_from_events` over
the stored events whatever the arrival order; the migration's backfill of existing events."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from pathlib import Path

import pytest

from collector.storage import NO_RUNS_CURSOR, Store, open_store
from collector.storage.postgres import PgStore
from collector.storage.postgres import schema as pg_schema
from collector.storage.runbook import group_runs
from collector.storage.runs import FwEvent, Run, runs_from_events
from collector.storage.sqlite import SqliteStore
from collector.storage.sqlite import schema as sqlite_schema
from tests.kits.pes import PgDatabase
from tests.kits.releases import (
    Ev,
    ev,
    import_unit,
    row,
    small_fleet,
    stored_runs,
    write_stream,
)

D = date(2026, 3, 2)
SQLITE_INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
PG_INSERT = (
    "INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
    "$15, $16, $17, $18)"
)


def expected(events: list[Ev]) -> dict[str, tuple[Run, ...]]:
    by_device: dict[str, list[FwEvent]] = {}
    for e in events:
        by_device.setdefault(e["device"], []).append(
            FwEvent(e["device"], e["type"], e["fw"], e["day"].toordinal(), e["ts"], e["id"])
        )
    return {d: runs_from_events(evs) for d, evs in by_device.items()}


async def test_late_event_inside_a_run_changes_nothing(store: Store) -> None:
    a = [ev("a", D, "1.0", n) for n in range(4)]
    await write_stream(store, [a[0], a[1], a[3]], [1, 2, 3])
    before = await store.firmware_runs(NO_RUNS_CURSOR)
    await write_stream(store, [a[2]], [4])  # late, same firmware, inside the run
    assert await stored_runs(store) == expected(a)
    assert len((await store.firmware_runs(NO_RUNS_CURSOR)).rows) == 1
    if isinstance(store, SqliteStore):  # no change, no new version
        assert (await store.firmware_runs(before.cursor)).rows == []


async def test_out_of_order_event_splits_a_run(store: Store) -> None:
    a = [ev("a", D, "1.0", n) for n in (0, 10, 20, 30)]
    await write_stream(store, a, [1, 2, 3, 4])
    cursor = (await store.firmware_runs(NO_RUNS_CURSOR)).cursor
    late = ev("a", D, "2.0", 15)  # between two stored 1.0 events
    await write_stream(store, [late], [5])
    runs = await stored_runs(store)
    assert runs == expected([*a, late])
    assert [r.firmware for r in runs["a"]] == ["1.0", "2.0", "1.0"]
    changed = await store.firmware_runs(cursor)
    assert {r[0] for r in changed.rows} == {"a"} and len(changed.rows) == 3


async def test_split_by_a_batch_with_its_own_neighbours(store: Store) -> None:
    """The neighbours of a splitting event are partly in the same (not yet inserted) batch."""
    a = [ev("a", D, "1.0", n) for n in (0, 100)]
    await write_stream(store, a, [1, 2])
    batch = [ev("a", D, "1.0", 10), ev("a", D, "2.0", 20), ev("a", D, "1.0", 30)]
    await write_stream(store, batch, [3, 4, 5])
    assert await stored_runs(store) == expected([*a, *batch])


async def test_split_finds_neighbours_among_equal_timestamps(store: Store) -> None:
    """Events of one millisecond are ordered by event id: the row-value bound keeps that order
    (a split between two ids of one timestamp takes the right neighbours)."""
    same = [ev("a", D, "1.0", 5) | {"id": f"e{k}"} for k in (1, 3, 5)]
    await write_stream(store, same, [1, 2, 3])
    late = ev("a", D, "2.0", 5) | {"id": "e2"}
    await write_stream(store, [late], [4])
    runs = (await stored_runs(store))["a"]
    assert [(r.firmware, r.first[1], r.last[1]) for r in runs] == [
        ("1.0", "e1", "e1"), ("2.0", "e2", "e2"), ("1.0", "e3", "e5"),
    ]  # fmt: skip


async def test_exact_resend_is_idempotent(store: Store) -> None:
    a = [ev("a", D, "1.0", 0), ev("a", D, "2.0", 5), ev("a", D, "2.0", 9)]
    await write_stream(store, a, [1, 2, 3])
    await store.write([import_unit([a[0]])], 0)
    first = await store.firmware_runs(NO_RUNS_CURSOR)
    await write_stream(store, a, [1, 2, 3])  # the same batch again: dedup by sequence
    await store.write([import_unit([a[0]])], 0)  # the same import: dedup by event id
    assert await stored_runs(store) == expected(a)
    assert sorted((await store.firmware_runs(NO_RUNS_CURSOR)).rows) == sorted(first.rows)


@pytest.mark.parametrize("seed", [1, 2])
async def test_any_arrival_order_equals_runs_from_events(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    events = small_fleet(rng, D, 20, devices=6)
    seqs = {id(e): 0 for e in events}
    counters: dict[str, int] = {}
    for e in events:
        counters[e["device"]] = seqs[id(e)] = counters.get(e["device"], 0) + 1
    order = events[:]
    rng.shuffle(order)
    cursor, seen = NO_RUNS_CURSOR, {}
    for k in range(0, len(order), 40):
        chunk = order[k : k + 40]
        if k % 80:
            await store.write([import_unit(chunk)], 0)
        else:
            # one stream batch per device: contiguous sequence numbers of its own
            for device in sorted({e["device"] for e in chunk}):
                for e in sorted(
                    (e for e in chunk if e["device"] == device), key=lambda e: seqs[id(e)]
                ):
                    await write_stream(store, [e], [seqs[id(e)]])
        changes = await store.firmware_runs(cursor)
        for device in {r[0] for r in changes.rows}:
            seen[device] = [r for r in changes.rows if r[0] == device]
        cursor = changes.cursor
    want = expected(events)
    assert await stored_runs(store) == want
    # a reader following the cursor ends with the same runs as a full read
    assert group_runs([r for rows in seen.values() for r in rows]) == want


async def _v4_then_backfill(
    tmp_path: Path, events: list[Ev], pg: bool
) -> dict[str, tuple[Run, ...]]:
    rows = [(*row(e, e.get("stream"), 1 if e.get("stream") else None), 0) for e in events]
    if not pg:
        url = f"sqlite:///{tmp_path}/old.db"
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("collector.storage.sqlite.store.MIGRATIONS", sqlite_schema.MIGRATIONS[:4])
            async with open_store(url) as old:
                assert isinstance(old, SqliteStore)
                db = old.db
                await db.executemany(SQLITE_INSERT, rows)
                await db.commit()
        async with open_store(url) as s:
            return await stored_runs(s)
    async with PgDatabase() as pgdb:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pg_schema, "MIGRATIONS", pg_schema.MIGRATIONS[:4])
            async with open_store(pgdb.dsn) as old:
                assert isinstance(old, PgStore)
                fixed = [(*r[:11], date.fromisoformat(r[11]), *r[12:]) for r in rows]
                await old.pool.executemany(PG_INSERT, fixed)
        async with open_store(pgdb.dsn) as s:
            return await stored_runs(s)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_migration_backfills_the_runs(tmp_path: Path, backend: str) -> None:
    events = small_fleet(random.Random(5), D, 15, devices=5)
    events.append({**events[3], "stream": "s9"})  # one event stored twice (import, stream)
    got = await _v4_then_backfill(tmp_path, events, backend == "postgres")
    assert got == expected(events)


async def test_feature_uses_sums_feature_day(store: Store) -> None:
    day2 = D.replace(day=D.day + 1)
    events = [
        ev("a", D, "1.0", 0, "feature_use", "jog"),
        ev("a", D, "2.0", 1, "feature_use", "jog"),  # another firmware: still device a's day
        ev("a", D, "2.0", 2, "feature_use", "calibrate"),
        ev("a", day2, "2.0", 3, "session_start"),
        ev("b", day2, "1.0", 0, "feature_use", "jog", typ="lathe-9"),
    ]
    await store.write([import_unit(events)], 0)
    got = sorted(await store.feature_uses(None, D, day2))
    assert got == [("a", D.toordinal(), 3), ("b", day2.toordinal(), 1)]
    assert await store.feature_uses("lathe-9", D, day2) == [("b", day2.toordinal(), 1)]
    assert await store.feature_uses(None, day2, day2) == [("b", day2.toordinal(), 1)]
    assert await store.feature_uses(None, D, day2, ["b", "zz"]) == [("b", day2.toordinal(), 1)]
    assert await store.feature_uses(None, D, day2, []) == []


async def test_events_seen_counts_every_stored_event(store: Store) -> None:
    """The change detector of the caches built on rollups (storage/usecache.py): it grows with
    every stored event, per device, and not with a duplicate or a status."""
    assert (await store.events_seen(), await store.events_seen_by_device()) == (0, {})
    first = [ev("a", D, "1.0", 0, "feature_use", "jog"), ev("b", D, "1.0", 0)]
    await store.write([import_unit(first)], 0)
    assert await store.events_seen() == 2
    await store.write([import_unit(first)], 0)  # the same events again: duplicates
    await store.save_status("c", {"state": "online"}, 0)
    assert await store.events_seen() == 2
    late = ev("a", D, "1.0", 1, "feature_use", "jog")  # same day and feature: only a count moves
    await store.write([import_unit([late])], 0)
    assert await store.events_seen() == 3
    assert await store.events_seen_by_device() == {"a": 2, "b": 1, "c": 0}


async def test_concurrent_writers_keep_the_runs_exact(store: Store) -> None:
    """On PostgreSQL several writes run at once (the pool): the firmware_devices locks keep each
    device's runs read-modify-write whole; on SQLite the writes queue."""
    events = small_fleet(random.Random(9), D, 12, devices=4)
    order = events[:]
    random.Random(4).shuffle(order)
    chunks = [order[k : k + 25] for k in range(0, len(order), 25)]
    await asyncio.gather(*(store.write([import_unit(c)], 0) for c in chunks))
    assert await stored_runs(store) == expected(events)
