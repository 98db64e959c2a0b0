"""SQLite backend (aiosqlite, WAL): the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite

from collector.errors import ConfigError, StoreError, StoreUnavailable
from collector.records import EventRow, ParsedMessage, StatusRow
from collector.storage import export, fleet, tallies
from collector.storage.base import (
    ActivityTuple,
    AlertState,
    Entity,
    EntitySessionsTuple,
    EntityUsesTuple,
    FeatureTuple,
    Filters,
    OutcomeTuple,
    Pruned,
    SessionTuple,
    WriteCounts,
)
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow, rows_from_hex
from collector.storage.marks import AnalyticsMark, ProbeKey
from collector.storage.plan import RunsAccess, WritePlan, plan_write
from collector.storage.runbook import RunChanges, UsesRow, group_runs
from collector.storage.runs import Key, Run, Stamp
from collector.storage.sql import (
    DEVICES_SQL,
    ENTITY_COLUMN,
    INSERT_QUARANTINE,
    SELECT_OUTCOMES,
    UPSERT_OUTCOME,
    by_day,
    device_dict,
    filter_clause,
    last_per_key,
    status_columns,
)
from collector.storage.sqlite import marks as sqlite_marks
from collector.storage.sqlite import runs as runs_sql
from collector.storage.sqlite.schema import MIGRATIONS
from collector.storage.streams import DAY_MS, RecentIds, StreamBook, StreamRow

_INSERT_EVENT = """
INSERT INTO events (device_id, event_id, stream_id, seq, kind, feature, session_id, user_id,
    ts_ms, wall_ms, clock_method, day, device_type, firmware_version, account_id, labels, props,
    received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# Imported events (no stream) go in as multi-row INSERTs: one statement per chunk instead of a
# thread round trip per event through aiosqlite; RETURNING names the rows that were new.
_IMPORT_ROWS = 1000  # 18 variables a row, under SQLite's 32,766 per statement
_IMPORT_VALUES = "(" + ", ".join(["?"] * 18) + ")"


@functools.lru_cache(maxsize=4)
def _insert_imported_sql(rows: int) -> str:
    head = _INSERT_EVENT.rsplit("VALUES", 1)[0]
    return (
        f"{head}VALUES {', '.join([_IMPORT_VALUES] * rows)}\n"
        "ON CONFLICT (device_id, event_id) WHERE stream_id IS NULL DO NOTHING\n"
        "RETURNING device_id, event_id"
    )


_UPSERT_STATUS = """
INSERT INTO devices (device_id, status, status_ms) VALUES (?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, status_ms = excluded.status_ms
"""
_UPSERT_STREAM = """
INSERT INTO streams VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, stream_id) DO UPDATE SET received = excluded.received,
    dropped = excluded.dropped, last_seen_ms = excluded.last_seen_ms,
    gap_events = excluded.gap_events, dropped_events = excluded.dropped_events
"""
_UPSERT_ACTIVITY = """
INSERT INTO activity_day VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, account_id, device_type, firmware_version, labels, day)
DO UPDATE SET events = events + excluded.events
"""
_UPSERT_FEATURE = """
INSERT INTO feature_day VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, account_id, device_type, firmware_version, labels, day, feature)
DO UPDATE SET uses = uses + excluded.uses
"""
_UPSERT_SESSION = """
INSERT INTO session_day VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, account_id, device_type, firmware_version, labels, day)
DO UPDATE SET sessions = sessions + excluded.sessions, seconds = seconds + excluded.seconds
"""
_UPSERT_DEVICE = """
INSERT INTO devices (device_id, account_id, device_type, firmware_version,
    first_seen_ms, last_seen_ms, events)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET
    account_id = CASE WHEN excluded.last_seen_ms >= coalesce(last_seen_ms, 0)
        THEN excluded.account_id ELSE account_id END,
    device_type = CASE WHEN excluded.last_seen_ms >= coalesce(last_seen_ms, 0)
        THEN excluded.device_type ELSE device_type END,
    firmware_version = CASE WHEN excluded.last_seen_ms >= coalesce(last_seen_ms, 0)
        THEN excluded.firmware_version ELSE firmware_version END,
    -- A row made by an agent status has no events yet (NULLs): SQLite's min/max return NULL
    -- when any argument is NULL, unlike PostgreSQL's least/greatest.
    first_seen_ms = min(coalesce(first_seen_ms, excluded.first_seen_ms), excluded.first_seen_ms),
    last_seen_ms = max(coalesce(last_seen_ms, 0), excluded.last_seen_ms),
    events = events + excluded.events
"""
# Counter rows (storage/tallies.py): one writer, so one slot.
_ADD_EVENT_COUNTS = """
INSERT INTO event_counts VALUES (?, 0, ?)
ON CONFLICT (day, slot) DO UPDATE SET events = events + excluded.events
"""
_ADD_QUARANTINE_COUNTS = """
INSERT INTO quarantine_counts VALUES (?, ?, 0, ?)
ON CONFLICT (day, reason, slot) DO UPDATE SET items = items + excluded.items
"""
_SUB_EVENT_COUNTS = "UPDATE event_counts SET events = events - ? WHERE day = ? AND slot = 0"
_INSERT_QUARANTINE = INSERT_QUARANTINE.format(*"??????")


class SqliteStore:
    def __init__(self, path: str, *, create: bool = True) -> None:
        self.path = path
        self.create = create  # False: a missing file is a ConfigError (read-only commands)
        self._db: aiosqlite.Connection | None = None
        # Reads (API, analytics) use their own connection: on the writer's they would run
        # between the statements of an open ingest transaction and see rows that may yet be
        # rolled back. WAL gives the reader the last committed state without blocking ingest.
        self._reader: aiosqlite.Connection | None = None
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
        return self

    async def __aexit__(self, *exc: object) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

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
            return await self._write(units, received_ms, statuses)

    async def _write(
        self, units: Sequence[ParsedMessage], received_ms: int, statuses: Sequence[StatusRow]
    ) -> list[WriteCounts]:
        db = self.db
        try:
            await db.execute("BEGIN IMMEDIATE")
            if statuses:
                devices, docs, ms = status_columns(statuses, received_ms)
                rows = [(d, j, ms) for d, j in zip(devices, docs, strict=True)]
                await db.executemany(_UPSERT_STATUS, rows)
            book = await self._load_streams(units, received_ms)
            plan = await plan_write(
                units,
                book,
                received_ms,
                lambda evs: self._insert_imported(evs, received_ms),
                RunsAccess(self._load_runs, self._neighbour),
                self._recent,
            )
            await self._execute(plan, received_ms)
            await db.commit()
            self._recent.add(plan.stream_fresh)
        except sqlite3.Error as exc:
            await _rollback(db)
            raise _translate(exc) from exc
        return plan.counts

    async def _execute(self, plan: WritePlan, received_ms: int) -> None:
        """Run a write plan inside the open transaction. SQLite has one writer, so the order
        of the statements does not matter; the counter rows are kept here (no triggers)."""
        db = self.db
        if plan.quarantine:
            await db.executemany(
                _INSERT_QUARANTINE,
                [(received_ms, q.topic, q.device_id, q.reason, q.detail, q.raw)
                 for q in plan.quarantine],
            )  # fmt: skip
        if plan.stream_fresh:
            await db.executemany(
                _INSERT_EVENT, [_event_params(ev, received_ms) for ev in plan.stream_fresh]
            )
        if plan.streams:
            await db.executemany(_UPSERT_STREAM, plan.streams)
        deltas = plan.deltas
        if deltas.activity:
            await db.executemany(_UPSERT_ACTIVITY, deltas.activity)
        if deltas.features:
            await db.executemany(_UPSERT_FEATURE, deltas.features)
        if deltas.devices:
            await db.executemany(_UPSERT_DEVICE, deltas.devices)
        if deltas.sessions:
            await db.executemany(_UPSERT_SESSION, deltas.sessions)
        if plan.fresh:
            days, ns = tallies.event_days(plan.fresh)
            await db.executemany(_ADD_EVENT_COUNTS, zip(days, ns, strict=True))
        if plan.quarantine:
            cols = tallies.reason_days((q.reason for q in plan.quarantine), received_ms)
            await db.executemany(_ADD_QUARANTINE_COUNTS, zip(*cols, strict=True))
        if plan.runs:
            await runs_sql.write_runs(db, plan.runs)

    async def _load_runs(self, devices: Sequence[str]) -> dict[str, tuple[Run, ...]]:
        rows = await self._fetch(runs_sql.LOAD_RUNS, (json.dumps(list(devices)),), writer=True)
        return group_runs([tuple(r) for r in rows])

    async def _neighbour(
        self, device: str, key: Key, below: bool, exclude: frozenset[Key]
    ) -> Stamp | None:
        sql = runs_sql.EVENT_BELOW if below else runs_sql.EVENT_ABOVE
        params = (device, key[0], key[0], key[1], len(exclude) + 1)
        for ts, event_id, day in await self._fetch(sql, params, writer=True):
            if (ts, event_id) not in exclude:
                return Stamp(int(ts), str(event_id), int(day))
        return None

    async def _load_streams(self, units: Sequence[ParsedMessage], received_ms: int) -> StreamBook:
        # In arrival order: the first new streams of a device are the ones admitted.
        keys = dict.fromkeys(
            (u.stream.device_id, u.stream.stream_id) for u in units if u.stream is not None
        )
        book = StreamBook()
        if keys:
            devices = sorted({d for d, _ in keys})
            marks = ",".join("?" * len(devices))
            rows = await self._fetch(
                f"SELECT * FROM streams WHERE device_id IN ({marks})",  # noqa: S608
                devices,
                writer=True,  # inside the write transaction: must see its own state
            )
            book.load(r for r in rows if (r[0], r[1]) in keys)
            opened: dict[str, int] = {}
            for r in rows:  # every stream of these devices: count those opened in 24 h
                if r[4] >= received_ms - DAY_MS:
                    opened[r[0]] = opened.get(r[0], 0) + 1
            book.admit(keys, opened)
        return book

    async def _insert_imported(
        self, events: Sequence[EventRow], received_ms: int
    ) -> list[EventRow]:
        """Events with no stream (imports): the partial unique index decides; of copies of one
        event in the batch the first is stored, as if they were inserted one by one."""
        new = []
        for i in range(0, len(events), _IMPORT_ROWS):
            chunk = events[i : i + _IMPORT_ROWS]
            params = [p for ev in chunk for p in _event_params(ev, received_ms)]
            async with self.db.execute(_insert_imported_sql(len(chunk)), params) as cur:
                stored = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
            for ev in chunk:
                key = (ev.device_id, ev.event_id)
                if key in stored:
                    stored.discard(key)  # a later copy in this chunk was not inserted
                    new.append(ev)
        return new

    async def activity(
        self, entity: Entity, until: date, filters: Filters | None = None
    ) -> list[ActivityTuple]:
        col = ENTITY_COLUMN[entity]
        where, params = filter_clause(filters, _qmark, 0)
        sql = (
            f"SELECT DISTINCT {col}, device_type, firmware_version, labels, day "  # noqa: S608
            f"FROM activity_day WHERE day <= ?{where}"
        )
        return [tuple(r) for r in await self._fetch(sql, (until.isoformat(), *params))]

    async def features(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[FeatureTuple]:
        col = ENTITY_COLUMN[entity]
        where, params = filter_clause(filters, _qmark, 0)
        sql = (
            f"SELECT {col}, device_type, firmware_version, labels, day, feature, "  # noqa: S608
            f"sum(uses) FROM feature_day WHERE day BETWEEN ? AND ?{where} "
            f"GROUP BY {col}, device_type, firmware_version, labels, day, feature"
        )
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat(), *params))
        return [tuple(r) for r in rows]

    async def sessions(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[SessionTuple]:
        col = ENTITY_COLUMN[entity]
        where, params = filter_clause(filters, _qmark, 0)
        sql = (
            f"SELECT {col}, device_type, firmware_version, labels, day, "  # noqa: S608
            f"sum(sessions), sum(seconds) FROM session_day WHERE day BETWEEN ? AND ?{where} "
            f"GROUP BY {col}, device_type, firmware_version, labels, day"
        )
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat(), *params))
        return [(r[0], r[1], r[2], r[3], r[4], int(r[5]), float(r[6])) for r in rows]

    async def entity_uses(self, entity: Entity, since: date, until: date) -> list[EntityUsesTuple]:
        col = ENTITY_COLUMN[entity]
        sql = (
            f"SELECT {col}, {runs_sql.DAY_ORDINAL}, feature, sum(uses) "  # noqa: S608
            f"FROM feature_day WHERE day BETWEEN ? AND ? GROUP BY {col}, day, feature"
        )
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat()))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def entity_sessions(
        self, entity: Entity, since: date, until: date
    ) -> list[EntitySessionsTuple]:
        col = ENTITY_COLUMN[entity]
        sql = (
            f"SELECT {col}, {runs_sql.DAY_ORDINAL}, sum(sessions), sum(seconds) "  # noqa: S608
            f"FROM session_day WHERE day BETWEEN ? AND ? GROUP BY {col}, day"
        )
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat()))
        return [(r[0], r[1], int(r[2]), float(r[3])) for r in rows]

    async def analytics_changes(self, cursor: Cursor) -> Changes:
        """Bitmap rows changed since `cursor` (every row for NO_CURSOR) and the cursor to pass
        next time. One writer at a time and versions that only grow make this exact."""
        act_v, feat_v = cursor
        # Packed by SQLite into one string per table: the driver's per-value cost (~0.6 us)
        # times millions of values was most of a cold start (docs/performance.md).
        act = await self._fetch(
            "SELECT group_concat(printf('%016x%016x%016x', combo, block, bits), ''), "
            "max(version) FROM activity_bits WHERE version > ?",
            (act_v,),
        )
        feats = await self._fetch(
            "SELECT group_concat(printf('%016x%016x%016x%016x', combo, feature, block, bits), "
            "''), max(version) FROM feature_bits WHERE version > ?",
            (feat_v,),
        )
        return Changes(
            activity=rows_from_hex(act[0][0], 3),
            feature_bits=rows_from_hex(feats[0][0], 4),
            cursor=(
                act_v if act[0][1] is None else int(act[0][1]),
                feat_v if feats[0][1] is None else int(feats[0][1]),
            ),
        )

    async def analytics_names(
        self, combos: Sequence[int], features: Sequence[int]
    ) -> tuple[list[ComboRow], list[FeatureNameRow]]:
        """The attributes of these combination ids and the names of these feature ids."""
        c = await self._fetch(
            "SELECT * FROM analytics_combo WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(combos)),),
        )
        f = await self._fetch(
            "SELECT id, feature FROM analytics_feature WHERE id IN "
            "(SELECT value FROM json_each(?))",
            (json.dumps(list(features)),),
        )
        return [tuple(r) for r in c], [(r[0], r[1]) for r in f]

    async def analytics_mark(self, probe: Sequence[ProbeKey] = ()) -> AnalyticsMark:
        return await sqlite_marks.analytics_mark(self._fetch, probe)

    async def firmware_runs(self, since: int) -> RunChanges:
        """As Store.firmware_runs: one writer and versions that only grow make this exact."""
        rows = await self._fetch(runs_sql.CHANGED_RUNS, (since,))
        return RunChanges(
            rows=[(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows],
            cursor=max((int(r[9]) for r in rows), default=since),
        )

    async def feature_uses(
        self,
        device_type: str | None,
        since: date,
        until: date,
        devices: Sequence[str] | None = None,
    ) -> list[UsesRow]:
        days = (since.isoformat(), until.isoformat(), device_type, device_type)
        if devices is None:
            rows = await self._fetch(runs_sql.FEATURE_USES, days)
        else:
            rows = await self._fetch(runs_sql.DEVICE_FEATURE_USES, (json.dumps(devices), *days))
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def events_seen(self) -> int:
        rows = await self._fetch("SELECT coalesce(sum(events), 0) FROM devices", ())
        return int(rows[0][0])

    async def events_seen_by_device(self) -> dict[str, int]:
        rows = await self._fetch("SELECT device_id, events FROM devices", ())
        return {str(r[0]): int(r[1]) for r in rows}

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

    async def _fetch(
        self, sql: str, params: Sequence[Any], *, writer: bool = False
    ) -> list[sqlite3.Row]:
        con = self.db if writer or self._reader is None else self._reader
        try:
            async with con.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise _translate(exc) from exc


def _qmark(_: int) -> str:
    return "?"


def _event_params(ev: EventRow, received_ms: int) -> tuple[Any, ...]:
    return (*ev, received_ms)  # EventRow's fields are the table's columns, in order


async def _rollback(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except sqlite3.Error:
        pass  # the connection is already out of its transaction


def _translate(exc: sqlite3.Error) -> Exception:
    """The one place sqlite3 errors become collector errors (retry vs give up)."""
    msg = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and (
        "locked" in msg or "busy" in msg or "disk I/O" in msg or "unable to open" in msg
    ):
        return StoreUnavailable(f"sqlite: {msg}")
    return StoreError(f"sqlite: {msg}")
