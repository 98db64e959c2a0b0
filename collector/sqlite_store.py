"""SQLite backend (aiosqlite, WAL): the embedded default."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite

from collector.errors import StoreError, StoreUnavailable
from collector.ingest import EventRow, ParsedMessage
from collector.store import ActivityTuple, Entity, FeatureTuple, WriteCounts

MIGRATIONS: list[str] = [
    # 1: events, quarantine, rollups, device registry
    """
    CREATE TABLE events (
        device_id TEXT NOT NULL, event_id TEXT NOT NULL,
        stream_id TEXT, seq INTEGER, kind TEXT NOT NULL, feature TEXT,
        session_id TEXT, user_id TEXT,
        ts_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL, clock_method TEXT NOT NULL,
        day TEXT NOT NULL, device_type TEXT NOT NULL, firmware_version TEXT NOT NULL,
        account_id TEXT NOT NULL, labels TEXT NOT NULL, props TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (device_id, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, topic TEXT NOT NULL,
        device_id TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL, raw BLOB NOT NULL
    );
    CREATE INDEX quarantine_reason ON quarantine (reason);
    CREATE TABLE activity_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    ) WITHOUT ROWID;
    CREATE INDEX activity_day_day ON activity_day (day);
    CREATE TABLE feature_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        feature TEXT NOT NULL, uses INTEGER NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day, feature)
    ) WITHOUT ROWID;
    CREATE INDEX feature_day_day ON feature_day (day);
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY, account_id TEXT, device_type TEXT, firmware_version TEXT,
        first_seen_ms INTEGER, last_seen_ms INTEGER, events INTEGER NOT NULL DEFAULT 0,
        status TEXT, status_ms INTEGER
    );
    """,
]

_INSERT_EVENT = """
INSERT INTO events (device_id, event_id, stream_id, seq, kind, feature, session_id, user_id,
    ts_ms, wall_ms, clock_method, day, device_type, firmware_version, account_id, labels, props,
    received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, event_id) DO NOTHING
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
_UPSERT_DEVICE = """
INSERT INTO devices (device_id, account_id, device_type, firmware_version,
    first_seen_ms, last_seen_ms, events)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET
    account_id = CASE WHEN excluded.last_seen_ms >= last_seen_ms
        THEN excluded.account_id ELSE account_id END,
    device_type = CASE WHEN excluded.last_seen_ms >= last_seen_ms
        THEN excluded.device_type ELSE device_type END,
    firmware_version = CASE WHEN excluded.last_seen_ms >= last_seen_ms
        THEN excluded.firmware_version ELSE firmware_version END,
    first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
    last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
    events = events + excluded.events
"""
# Column names come from this fixed map only, never from the caller: SQL stays parameterised.
_ENTITY_COL: dict[str, str] = {"device": "device_id", "account": "account_id"}


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    async def __aenter__(self) -> SqliteStore:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path, timeout=30)
            await self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an ack promises durability, so the commit must survive power loss too.
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._migrate()
        except sqlite3.Error as exc:
            await self.__aexit__()
            raise _translate(exc) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
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

    async def write(self, units: Sequence[ParsedMessage], received_ms: int) -> list[WriteCounts]:
        db = self.db
        counts: list[WriteCounts] = []
        fresh: list[EventRow] = []
        try:
            await db.execute("BEGIN IMMEDIATE")
            for unit in units:
                stored = 0
                for ev in unit.events:
                    cur = await db.execute(_INSERT_EVENT, _event_params(ev, received_ms))
                    if cur.rowcount == 1:
                        stored += 1
                        fresh.append(ev)
                if unit.quarantined:
                    await db.executemany(
                        "INSERT INTO quarantine (received_ms, topic, device_id, reason, detail, "
                        "raw) VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (received_ms, q.topic, q.device_id, q.reason, q.detail, q.raw)
                            for q in unit.quarantined
                        ],
                    )
                counts.append(WriteCounts(stored, len(unit.events) - stored, len(unit.quarantined)))
            await self._rollup(fresh)
            await db.commit()
        except sqlite3.Error as exc:
            await _rollback(db)
            raise _translate(exc) from exc
        return counts

    async def _rollup(self, fresh: Sequence[EventRow]) -> None:
        """Fold newly stored events (never duplicates) into the rollups, in the same transaction."""
        activity: Counter[tuple[str, ...]] = Counter()
        features: Counter[tuple[str, ...]] = Counter()
        devices: dict[str, list[Any]] = {}
        for ev in fresh:
            seg = (ev.device_id, ev.account_id, ev.device_type, ev.firmware_version, ev.labels)
            if ev.is_activity:
                activity[(*seg, ev.day)] += 1
                if ev.kind == "feature_use" and ev.feature is not None:
                    features[(*seg, ev.day, ev.feature)] += 1
            d = devices.get(ev.device_id)
            if d is None or ev.ts_ms >= d[5]:
                first = ev.ts_ms if d is None else min(d[4], ev.ts_ms)
                n = 0 if d is None else d[6]
                d = devices[ev.device_id] = [
                    ev.device_id, ev.account_id, ev.device_type, ev.firmware_version,
                    first, ev.ts_ms, n,
                ]  # fmt: skip
            else:
                d[4] = min(d[4], ev.ts_ms)
            d[6] += 1
        db = self.db
        if activity:
            await db.executemany(_UPSERT_ACTIVITY, [(*k, n) for k, n in activity.items()])
        if features:
            await db.executemany(_UPSERT_FEATURE, [(*k, n) for k, n in features.items()])
        if devices:
            await db.executemany(_UPSERT_DEVICE, list(devices.values()))

    async def activity(self, entity: Entity, until: date) -> list[ActivityTuple]:
        col = _ENTITY_COL[entity]
        sql = (
            f"SELECT DISTINCT {col}, device_type, firmware_version, labels, day "  # noqa: S608
            "FROM activity_day WHERE day <= ?"
        )
        return [tuple(r) for r in await self._fetch(sql, (until.isoformat(),))]

    async def features(self, entity: Entity, since: date, until: date) -> list[FeatureTuple]:
        col = _ENTITY_COL[entity]
        sql = (
            f"SELECT {col}, device_type, firmware_version, labels, day, feature, "  # noqa: S608
            "sum(uses) FROM feature_day WHERE day BETWEEN ? AND ? "
            f"GROUP BY {col}, device_type, firmware_version, labels, day, feature"
        )
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat()))
        return [tuple(r) for r in rows]

    async def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, sql in (
            ("events", "SELECT count(*) FROM events"),
            ("devices", "SELECT count(*) FROM devices"),
            ("quarantined", "SELECT count(*) FROM quarantine"),
        ):
            out[key] = (await self._fetch(sql, ()))[0][0]
        reasons = await self._fetch("SELECT reason, count(*) FROM quarantine GROUP BY reason", ())
        out["quarantine_by_reason"] = {r: n for r, n in reasons}
        return out

    async def save_status(self, device_id: str, status: dict[str, Any], received_ms: int) -> None:
        try:
            await self.db.execute(
                "INSERT INTO devices (device_id, status, status_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, "
                "status_ms = excluded.status_ms",
                (device_id, json.dumps(status), received_ms),
            )
            await self.db.commit()
        except sqlite3.Error as exc:
            await _rollback(self.db)
            raise _translate(exc) from exc

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        try:
            async with self.db.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise _translate(exc) from exc


def _event_params(ev: EventRow, received_ms: int) -> tuple[Any, ...]:
    return (
        ev.device_id, ev.event_id, ev.stream_id, ev.seq, ev.kind, ev.feature, ev.session_id,
        ev.user_id, ev.ts_ms, ev.wall_ms, ev.clock_method, ev.day, ev.device_type,
        ev.firmware_version, ev.account_id, ev.labels, ev.props, received_ms,
    )  # fmt: skip


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
