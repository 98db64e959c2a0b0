"""Sustained ingest, end to end: a load generator process publishes agents' batches through a
real Mosquitto; the collector's ingest loop (in this process) validates, stores and acks them;
the figure is events/s from the first publish to the last ack. Each backend runs next to a naive
baseline in the same run: one INSERT per event against a unique index, one transaction per
message, no rollups (what a straightforward implementation does)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite
import asyncpg

from bench import loadgen
from bench.core import Figure, Size
from bench.triggers import trigger_cost
from collector.ingest.loop import IngestLoop
from collector.ingest.parse import parse_batch
from collector.records import ParsedMessage, StatusRow
from collector.settings import load_settings
from collector.storage import Store, WriteCounts, Writer, open_store
from devkit.broker import LocalBroker
from shared.topics import events_topic

# the required figures (bench.core.REQUIRED) this suite always reports
PRODUCES = ("ingest_sqlite_eps", "ingest_sqlite_vs_naive", "ingest_pg_eps", "ingest_pg_vs_naive")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
_NAIVE_DDL = (
    "CREATE TABLE naive_events (device_id TEXT NOT NULL, event_id TEXT NOT NULL, "
    "kind TEXT, feature TEXT, ts_ms BIGINT, day TEXT, device_type TEXT, "
    "firmware_version TEXT, account_id TEXT, labels TEXT, props TEXT, "
    "UNIQUE (device_id, event_id))"
)


class NaiveSqlite:
    def __init__(self, path: str) -> None:
        self.path = path
        self.db: aiosqlite.Connection | None = None

    async def __aenter__(self) -> NaiveSqlite:
        self.db = await aiosqlite.connect(self.path)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=FULL")
        await self.db.execute(_NAIVE_DDL)
        await self.db.commit()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.db is not None:
            await self.db.close()

    async def write(
        self, units: Sequence[ParsedMessage], received_ms: int, statuses: Sequence[StatusRow] = ()
    ) -> list[WriteCounts]:
        # The baseline stores events only: the load sends no statuses.
        assert self.db is not None
        out = []
        for unit in units:
            stored = 0
            for ev in unit.events:
                cur = await self.db.execute(
                    "INSERT INTO naive_events VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT DO NOTHING",
                    (ev.device_id, ev.event_id, ev.kind, ev.feature, ev.ts_ms, ev.day,
                     ev.device_type, ev.firmware_version, ev.account_id, ev.labels, ev.props),
                )  # fmt: skip
                stored += cur.rowcount
            await self.db.commit()
            out.append(WriteCounts(stored, len(unit.events) - stored, len(unit.quarantined)))
        return out


class NaivePg:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.con: Any = None

    async def __aenter__(self) -> NaivePg:
        self.con = await asyncpg.connect(self.dsn)
        await self.con.execute(_NAIVE_DDL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.con is not None:
            await self.con.close()

    async def write(
        self, units: Sequence[ParsedMessage], received_ms: int, statuses: Sequence[StatusRow] = ()
    ) -> list[WriteCounts]:
        # The baseline stores events only: the load sends no statuses.
        out = []
        for unit in units:
            stored = 0
            async with self.con.transaction():
                for ev in unit.events:
                    status = await self.con.execute(
                        "INSERT INTO naive_events VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) "
                        "ON CONFLICT DO NOTHING",
                        ev.device_id, ev.event_id, ev.kind, ev.feature, ev.ts_ms, ev.day,
                        ev.device_type, ev.firmware_version, ev.account_id, ev.labels, ev.props,
                    )  # fmt: skip
                    stored += int(status.split()[-1])
            out.append(WriteCounts(stored, len(unit.events) - stored, len(unit.quarantined)))
        return out


async def _pg_db(name: str, create: bool) -> None:
    con = await asyncpg.connect(PG_ADMIN)
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()


async def _run_once(
    store: Writer, port: int, shape: tuple[int, int, int], *, fast_parse: bool = True
) -> float:
    return (await _measure(store, port, shape, fast_parse=fast_parse))[0]


async def _measure(
    store: Writer, port: int, shape: tuple[int, int, int], *, fast_parse: bool = True
) -> tuple[float, float]:
    """(events/s end to end, events per CPU-second of this process: the collector's ingest
    loop and its database driver; the load generator and the broker are other processes)."""
    settings = load_settings(None, mqtt={"port": port}, ingest={"client_id": "bench-collector"})
    stop = asyncio.Event()
    loop = IngestLoop(settings, store, fast_parse=fast_parse)
    task = asyncio.create_task(loop.run(stop))
    try:
        for _ in range(200):
            if loop.mqtt is not None and loop.mqtt.connected.is_set():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the subscription goes out right after CONNACK
        cpu0 = time.process_time()
        result = await loadgen.spawn(port, *shape)
        cpu = time.process_time() - cpu0
        assert loop.counters.stored == result["events"], "bench lost or duplicated events"
        return float(result["events"] / result["seconds"]), result["events"] / cpu
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def parse_stage(n_events: int, rounds: int = 3) -> tuple[float, float]:
    """(events per CPU-second of `parse_batch` with its msgspec fast path, the same with the
    pydantic path alone) on the load generator's batches, best of `rounds` alternated runs."""
    size = 500 if n_events >= 500 else n_events
    msgs = [
        (events_topic(f"bench-{d:05d}"), payload, ctype)
        for d in range(max(1, n_events // (size * 4)))
        for payload, ctype in loadgen.make_batches(f"bench-{d:05d}", 4, size)
    ]
    events = len(msgs) * size
    tz = ZoneInfo("UTC")
    received = loadgen.NOW_MS + 60_000
    best = {True: 0.0, False: 0.0}
    for _ in range(rounds):
        for fast in (False, True):
            t0 = time.process_time()
            stored = sum(
                len(parse_batch(t, p, c, received, tz, fast=fast).events) for t, p, c in msgs
            )
            cpu = time.process_time() - t0
            assert stored == events, "a bench batch was quarantined"
            best[fast] = max(best[fast], events / max(cpu, 1e-9))
    return best[True], best[False]


async def run(size: Size) -> list[Figure]:
    quick = size is not Size.FULL
    shape = size.pick((100, 8, 500), (50, 2, 500), (5, 1, 100))
    n = shape[0] * shape[1] * shape[2]
    # The naive baselines are rates too, and slow: a quarter of the events in the full run.
    naive_shape = shape if quick else (shape[0], shape[1] // 4, shape[2])
    unit = f"events/s ({n // 1000}k events)"
    cpu_unit = f"events/CPU-s ({n // 1000}k events)"
    old = "baseline: the same run with the pydantic parse only (fast_parse=False)"
    figures = []
    fast, slow = parse_stage(size.pick(100_000, 50_000, 2_000))
    figures.append(Figure("ingest_parse_eps", fast, "events/CPU-s", baseline=slow,
                          note="parse_batch alone; " + old))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pes-bench-") as tmp:
        devices = size.pick(2_000, 1_000, 50)
        on, off = await trigger_cost(Path(tmp), devices, 30)
        figures.append(Figure("ingest_sqlite_trigger_us", on, "us CPU per new device-day",
                              baseline=off, note=f"SqliteStore.write, {devices} devices x 30 "
                              "days, every event a new device-day; baseline: rollup "
                              "triggers dropped"))  # fmt: skip
        async with LocalBroker() as broker:
            async with NaiveSqlite(f"{tmp}/naive.db") as naive:
                naive_eps = await _run_once(naive, broker.port, naive_shape)
            async with open_store(f"sqlite:///{tmp}/old.db") as store:
                old_eps, old_cpu = await _measure(store, broker.port, shape, fast_parse=False)
            async with open_store(f"sqlite:///{tmp}/c.db") as store:
                eps, cpu = await _measure(store, broker.port, shape)
            figures.append(Figure("ingest_sqlite_eps", eps, unit, ">= 100000",
                                  baseline=naive_eps, note="500 events a batch"))  # fmt: skip
            figures.append(Figure("ingest_sqlite_vs_naive", eps / naive_eps, "x", ">= 3",
                                  note="baseline: naive INSERT per event"))  # fmt: skip
            figures.append(Figure("ingest_sqlite_vs_pydantic", eps, unit, baseline=old_eps,
                                  note=old))  # fmt: skip
            figures.append(Figure("ingest_sqlite_cpu_eps", cpu, cpu_unit, baseline=old_cpu,
                                  note="collector process CPU; " + old))  # fmt: skip
            name = f"pes_bench_{Path(tmp).name.replace('-', '_')}"
            dbs = (name + "_n", name + "_o", name)
            for db in dbs:
                await _pg_db(db, True)
            url = PG_ADMIN.rsplit("/", 1)[0]
            try:
                async with NaivePg(f"{url}/{name}_n") as pgn:
                    pg_naive = await _run_once(pgn, broker.port, naive_shape)
                pg: Store = open_store(f"{url}/{name}_o")
                async with pg:
                    pg_old, pg_old_cpu = await _measure(pg, broker.port, shape, fast_parse=False)
                pg = open_store(f"{url}/{name}")
                async with pg:
                    pg_eps, pg_cpu = await _measure(pg, broker.port, shape)
            finally:
                for db in dbs:
                    await _pg_db(db, False)
            figures.append(Figure("ingest_pg_eps", pg_eps, unit, "", baseline=pg_naive,
                                  note="500 events a batch"))  # fmt: skip
            figures.append(Figure("ingest_pg_vs_naive", pg_eps / pg_naive, "x", ">= 3",
                                  note="baseline: naive INSERT per event"))  # fmt: skip
            figures.append(Figure("ingest_pg_vs_pydantic", pg_eps, unit, baseline=pg_old,
                                  note=old))  # fmt: skip
            figures.append(Figure("ingest_pg_cpu_eps", pg_cpu, cpu_unit, ">= 100000",
                                  baseline=pg_old_cpu,
                                  note="collector process CPU (PostgreSQL's own not counted); "
                                  + old))  # fmt: skip
    return figures
