"""SQLite backend (aiosqlite, WAL): the embedded default.

The store composes three parts: the connections and analytics reads (`reads.py`), the ingest
write path (`write.py`, run under this store's writer lock) and, here, the lifecycle, the
migrations and the smaller reads and writes of operations (outcomes, alerts, retention, jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite

from collector.errors import ConfigError, StoreError
from collector.records import ParsedMessage, StatusRow
from collector.storage import export, fleet, tallies
from collector.storage.base import AlertState, Entity, OutcomeTuple, Pruned, WriteCounts
from collector.storage.sql import (
    DEVICES_SQL,
    SELECT_OUTCOMES,
    UPSERT_OUTCOME,
    by_day,
    device_dict,
    last_per_key,
)
from collector.storage.sqlite import runs as runs_sql
from collector.storage.sqlite import write as write_path
from collector.storage.sqlite.errors import rollback as _rollback
from collector.storage.sqlite.errors import translate as _translate
from collector.storage.sqlite.reads import SqliteReads
from collector.storage.sqlite.schema import MIGRATIONS
from collector.storage.streams import RecentIds, StreamRow

_SUB_EVENT_COUNTS = "UPDATE event_counts SET events = events - ? WHERE day = ? AND slot = 0"


class SqliteStore(SqliteReads):
    def __init__(self, path: str, *, create: bool = True) -> None:
        super().__init__()  # the writer and reader connections (reads.py says why two)
        self.path = path
        self.create = create  # False: a missing file is a ConfigError (read-only commands)
        # One transaction at a time on the writer connection: retention, statuses and job
        # claims run beside ingest, and a statement of theirs inside ingest's open transaction
        # would commit or roll back with it.
        self._writing = asyncio.Lock()
        self._recent = RecentIds()  # event ids stored lately (streams.RecentIds)

    async def __aenter__(self) -> SqliteStore:
        memory = self.path == ":memory:"
        if not memory and not self.create and not await asyncio.to_thread(Path(self.path).is_file):
            raise ConfigError(
                f"no collector store at {self.path}: pass --config with the [storage] url of "
                "an existing store (serve and import create one)"
            )
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path, timeout=30)
            await self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an ack promises durability, so the commit must survive power loss too.
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._migrate()
            if self.path != ":memory:":  # a second connection would be another database
                self._reader = await aiosqlite.connect(self.path, timeout=30)
                await self._reader.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            await self.__aexit__()
            raise _translate(exc) from exc
        except BaseException:
            # Any other refusal (a schema newer than this collector): the connections' threads
            # must not outlive it, or the process hangs at exit instead of reporting it.
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    async def _migrate(self) -> None:
        db = self.db
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT max(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > len(MIGRATIONS):
            raise StoreError(f"database schema v{current} is newer than this collector")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await db.executescript(  # migrations are constants of this module
                f"BEGIN; {MIGRATIONS[version - 1]}; "  # noqa: S608
                f"INSERT INTO schema_version VALUES ({int(version)}); COMMIT;"
            )

    async def write(
        self,
        units: Sequence[ParsedMessage],
        received_ms: int,
        statuses: Sequence[StatusRow] = (),
    ) -> list[WriteCounts]:
        async with self._writing:
            return await write_path.write(self.db, units, received_ms, statuses, self._recent)

    async def put_outcomes(self, rows: Sequence[OutcomeTuple]) -> int:
        rows = last_per_key(rows)
        async with self._writing:
            try:
                await self.db.execute("BEGIN IMMEDIATE")
                await self.db.executemany(
                    UPSERT_OUTCOME.format(*"????"),
                    [(e, i, o, d.isoformat()) for e, i, o, d in rows],
                )
                await self.db.commit()
            except sqlite3.Error as exc:
                await _rollback(self.db)
                raise _translate(exc) from exc
        return len(rows)

    async def outcomes(self, entity: Entity) -> list[OutcomeTuple]:
        rows = await self._fetch(SELECT_OUTCOMES.format("?"), (entity,))
        # Sorted here, not by the database's collation: the report's folds follow this order.
        return sorted(((r[0], r[1], r[2], date.fromisoformat(r[3])) for r in rows), key=by_day)

    async def alert_state(self) -> AlertState:
        rows = await self._fetch("SELECT rule, subject, value FROM alert_state", ())
        return {(r[0], r[1]): r[2] for r in rows}

    async def ops_gauges(self, now_ms: int) -> dict[str, int]:
        return tallies.ops_dict((await self._fetch(tallies.ops_sql("?"), (now_ms,)))[0])

    async def count_alert_deliveries(self, sent: int, failed: int) -> None:
        rows = [(k, n) for k, n in (("sent", sent), ("failed", failed)) if n]
        async with self._writing:
            try:
                await self.db.executemany(tallies.ADD_ALERT_DELIVERIES.format("?", "?"), rows)
                await self.db.commit()
            except sqlite3.Error as exc:
                await _rollback(self.db)
                raise _translate(exc) from exc

    async def set_alert_state(
        self,
        opened: Sequence[tuple[str, str, float | None, int]],
        cleared: Sequence[tuple[str, str]],
    ) -> None:
        """Record delivered breaches (rule, subject, value, sent_ms) and forget cleared ones."""
        async with self._writing:
            try:
                await self.db.executemany(
                    "INSERT OR REPLACE INTO alert_state VALUES (?, ?, ?, ?)", opened
                )
                await self.db.executemany(
                    "DELETE FROM alert_state WHERE rule = ? AND subject = ?", cleared
                )
                await self.db.commit()
            except sqlite3.Error as exc:
                await _rollback(self.db)
                raise _translate(exc) from exc

    async def stats(self) -> dict[str, Any]:
        """Counts held now, from the counter rows (storage/tallies.py), the registry and the
        stream rows: never a count of raw events."""
        row = (await self._fetch(tallies.STATS_SQL, ()))[0]
        return tallies.stats_dict(row, await self._fetch(tallies.REASONS_SQL, ()))

    async def day_marks(self, since: date, until: date) -> list[export.DayMark]:
        sql = export.day_marks_sql("day", "?", "?")
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat()) * 2)
        return [(str(d), int(e), int(a)) for d, e, a in rows]

    async def day_rows(
        self, table: export.ExportTable, day: date, batch: int = 5000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        con = self._reader or self.db
        try:
            async with con.execute(export.day_rows_sql(table, "?"), (day.isoformat(),)) as cur:
                while rows := await cur.fetchmany(batch):
                    yield [tuple(r) for r in rows]
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    async def stream_rows(self) -> list[StreamRow]:
        rows = await self._fetch(export.STREAMS_SQL, ())
        return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    async def save_status(self, device_id: str, status: dict[str, Any], received_ms: int) -> None:
        await self.write([], received_ms, [(device_id, status)])

    async def prune_events(self, before: date) -> Pruned | None:
        # Small chunks: the single writer must not hold the lock long enough to stall ingest.
        total = 0
        while True:
            async with self._writing:
                try:
                    await self.db.execute("BEGIN IMMEDIATE")
                    async with self.db.execute(
                        "DELETE FROM events WHERE rowid IN "
                        "(SELECT rowid FROM events WHERE day < ? LIMIT 5000) RETURNING day",
                        (before.isoformat(),),
                    ) as cur:
                        gone = [r[0] for r in await cur.fetchall()]
                    # Each chunk takes its own rows' counts with it.
                    days, ns = tallies.event_days_of(gone)
                    await self.db.executemany(_SUB_EVENT_COUNTS, zip(ns, days, strict=True))
                    if len(gone) < 5000:
                        await self._prune_quarantine(before)
                        await self.db.execute(runs_sql.PRUNE_SPLIT_EVENTS, (before.toordinal(),))
                    await self.db.commit()
                except sqlite3.Error as exc:
                    await _rollback(self.db)
                    raise _translate(exc) from exc
            total += len(gone)
            if len(gone) < 5000:
                return Pruned(total)

    async def _prune_quarantine(self, before: date) -> None:
        """Quarantined items received before `before` (UTC), and their counts; the last chunk's
        transaction also drops the event counter rows left at zero."""
        db = self.db
        await db.execute("DELETE FROM event_counts WHERE day < ?", (before.isoformat(),))
        await db.execute(
            "DELETE FROM quarantine WHERE received_ms < ?", (tallies.day_start_ms(before),)
        )
        await db.execute("DELETE FROM quarantine_counts WHERE day < ?", (before.isoformat(),))

    async def create_partitions(self, today: date) -> int:
        return 0  # one events table: see migration 3

    @contextlib.asynccontextmanager
    async def job(self, name: str, min_gap_s: float) -> AsyncIterator[bool]:
        """As Store.job. Processes sharing the file (serve, `pes-collector alerts`) exclude each
        other with a lock on a file beside the database, held for the run; the claim itself is
        a write transaction, which SQLite serialises across processes."""
        lock_path = None if self.path == ":memory:" else f"{self.path}.job-{name}.lock"
        with contextlib.ExitStack() as stack:
            if lock_path is not None:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                stack.callback(os.close, fd)  # closing releases the lock
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
            now = time.time_ns() // 1_000_000
            async with self._writing:
                try:
                    cur = await self.db.execute(
                        "INSERT INTO job_runs AS j VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                        "SET started_ms = excluded.started_ms "
                        "WHERE j.started_ms <= excluded.started_ms - ?",
                        (name, now, int(min_gap_s * 1000)),
                    )
                    await self.db.commit()
                except sqlite3.Error as exc:
                    await _rollback(self.db)
                    raise _translate(exc) from exc
            yield cur.rowcount == 1

    async def devices(self, limit: int, offset: int) -> list[dict[str, Any]]:
        sql = DEVICES_SQL.format(limit="?", offset="?")
        return [device_dict(r) for r in await self._fetch(sql, (limit, offset))]

    async def fleet(self, now_ms: int, limit: int) -> dict[str, Any]:
        """Device counts, backlog and the devices worth a look (storage/fleet.py)."""
        row = (await self._fetch(fleet.summary_sql("sqlite"), (now_ms,)))[0]
        worst = await self._fetch(fleet.attention_sql("sqlite"), (now_ms, limit))
        configs = await self._fetch(fleet.configs_sql("sqlite"), (fleet.CONFIGS_LIMIT,))
        return fleet.summary_dict(row, worst, configs)
