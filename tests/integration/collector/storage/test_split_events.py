"""split_events (migration 8, both backends): the events of devices whose events split firmware
runs, kept by the writes so that a split seeks them instead of scanning `events`. They must
equal the marked devices' stored events after every write and after retention, and the runs
must stay those of runs_from_events."""

from __future__ import annotations

import random
from datetime import date, timedelta

from collector.storage import Store
from collector.storage.postgres import PgStore
from collector.storage.postgres.runs import DAY_ORDINAL as PG_DAY
from collector.storage.sqlite import SqliteStore
from collector.storage.sqlite.runs import DAY_ORDINAL as SQLITE_DAY
from tests.integration.collector.storage.test_firmware_runs import expected
from tests.kits.releases import Ev, Writer, ev, import_unit, stored_runs

D = date(2026, 3, 2)


async def _rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    if isinstance(store, SqliteStore):
        async with store.db.execute(sql) as cur:
            return [tuple(r) for r in await cur.fetchall()]
    assert isinstance(store, PgStore)
    return [tuple(r) for r in await store.pool.fetch(sql)]


async def _marked(store: Store) -> set[str]:
    sql = (
        "SELECT device_id FROM split_devices"
        if isinstance(store, SqliteStore)
        else "SELECT device_id FROM firmware_devices WHERE split"
    )
    return {str(r[0]) for r in await _rows(store, sql)}


async def _assert_kept(store: Store, marked: set[str]) -> None:
    assert await _marked(store) == marked
    kept = await _rows(store, "SELECT device_id, ts_ms, event_id, day FROM split_events")
    day = SQLITE_DAY if isinstance(store, SqliteStore) else PG_DAY
    want = await _rows(
        store,
        f"SELECT DISTINCT device_id, ts_ms, event_id, {day} FROM events "  # noqa: S608
        f"WHERE device_id IN ({','.join(repr(d) for d in sorted(marked)) or 'NULL'})",
    )
    assert sorted(kept) == sorted(want)


def _splitting(device: str, day: date, n0: int) -> list[Ev]:
    """2.0 and 1.0 in turn, each between two events of a 1.0 run written before (n0 + 10k)."""
    return [ev(device, day, "2.0" if k % 2 == 0 else "1.0", n0 + 10 * k + 5) for k in range(6)]


async def test_a_splitting_device_is_marked_and_its_events_kept(store: Store) -> None:
    w = Writer()
    days = [D + timedelta(days=k) for k in range(3)]
    for i, day in enumerate(days):  # n: the event's id and its second of the day
        await w.write(store, [ev(d, day, "1.0", 1000 * i + 10 * k) for d in "ab" for k in range(8)])
    await _assert_kept(store, set())  # in-order writes mark nothing
    await w.write(store, _splitting("a", days[1], 1000))
    await _assert_kept(store, {"a"})
    # later writes of the marked device are added: in order, splitting, imported
    await w.write(store, [ev("a", days[2], "2.0", 2100 + k) for k in range(3)])
    await w.write(store, _splitting("a", days[0], 1))
    imported = [ev("a", days[2], "1.0", 2200), ev("b", days[2], "1.0", 2200)]
    await store.write([import_unit(imported)], 0)
    await _assert_kept(store, {"a"})
    assert await stored_runs(store) == expected(w.events + imported)
    # retention deletes the marked devices' old events here too
    await store.prune_events(days[1])
    await _assert_kept(store, {"a"})
    assert await _rows(store, "SELECT count(*) FROM split_events") != [(0,)]


async def test_random_writes_keep_the_runs_and_the_split_events(store: Store) -> None:
    rng = random.Random(7)
    w = Writer()
    fw = {"a": "1.0", "b": "1.0", "c": "1.0"}
    n = 0
    for _ in range(30):
        device = rng.choice("abc")
        if rng.random() < 0.3:
            fw[device] = rng.choice(["1.0", "2.0", "3.0"])
        batch = []
        for _ in range(rng.randint(1, 8)):
            n += 1
            late = rng.random() < 0.4
            at = rng.randrange(n * 1000) if late else n * 1000  # ms into the day
            batch.append(ev(device, D + timedelta(days=rng.randrange(3)), fw[device], n, at_ms=at))
        await w.write(store, batch)
    assert await stored_runs(store) == expected(w.events)
    marked = await _marked(store)
    assert marked, "this seed's writes split runs"
    await _assert_kept(store, marked)
