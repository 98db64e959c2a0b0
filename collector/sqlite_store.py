"""SQLite backend (aiosqlite, WAL): the embedded default."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite

from collector.analytics.rows import Changes, ComboRow, Cursor, FeatureNameRow
from collector.errors import StoreError, StoreUnavailable
from collector.ingest import EventRow, ParsedMessage
from collector.rollups import fold
from collector.store import (
    DEVICES_SQL,
    ActivityTuple,
    Entity,
    FeatureTuple,
    Filters,
    SessionTuple,
    WriteCounts,
    device_dict,
    filter_clause,
)
from collector.streams import StreamBook

MIGRATIONS: list[str] = [
    # 1: events, quarantine, rollups, device registry
    """
    -- Append-only: stream events are deduplicated by sequence ranges (table streams), so they
    -- pay for no per-event index. Imported events have no stream: a partial unique index on
    -- their identity dedups them instead.
    CREATE TABLE events (
        device_id TEXT NOT NULL, event_id TEXT NOT NULL,
        stream_id TEXT, seq INTEGER, kind TEXT NOT NULL, feature TEXT,
        session_id TEXT, user_id TEXT,
        ts_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL, clock_method TEXT NOT NULL,
        day TEXT NOT NULL, device_type TEXT NOT NULL, firmware_version TEXT NOT NULL,
        account_id TEXT NOT NULL, labels TEXT NOT NULL, props TEXT NOT NULL,
        received_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX events_imported ON events (device_id, event_id) WHERE stream_id IS NULL;
    CREATE TABLE streams (
        device_id TEXT NOT NULL, stream_id TEXT NOT NULL,
        received TEXT NOT NULL,   -- JSON [[first, last], ...]: sequence ranges received
        dropped TEXT NOT NULL,    -- JSON [[first, last, reason], ...]: declared by the agent
        first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
        gap_events INTEGER NOT NULL DEFAULT 0, dropped_events INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (device_id, stream_id)
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
    CREATE TABLE session_day (
        device_id TEXT NOT NULL, account_id TEXT NOT NULL, device_type TEXT NOT NULL,
        firmware_version TEXT NOT NULL, labels TEXT NOT NULL, day TEXT NOT NULL,
        sessions INTEGER NOT NULL, seconds REAL NOT NULL,
        PRIMARY KEY (device_id, account_id, device_type, firmware_version, labels, day)
    ) WITHOUT ROWID;
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY, account_id TEXT, device_type TEXT, firmware_version TEXT,
        first_seen_ms INTEGER, last_seen_ms INTEGER, events INTEGER NOT NULL DEFAULT 0,
        status TEXT, status_ms INTEGER
    );
    """,
    # 2: analytics (collector/analytics): each entity's active days as 64-day bitmaps, so that a
    # query reads one integer per combination and 64 days instead of one row per day. Kept in
    # step with activity_day/feature_day by triggers (a new day row sets its bit; an existing
    # one only gains a count, so INSERT triggers suffice), leaving the ingest code unchanged.
    # Combinations and feature names get integer ids; `version` grows with every change so that
    # collector/analytics_cache.py reads only what changed since its last read. Days are Python
    # date ordinals (julianday - 1721424.5); block = ordinal / 64, bit = ordinal % 64.
    # alert_state: alerts already delivered, one row per open breach (collector/alerts.py).
    """
    CREATE TABLE analytics_combo (
        id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, account_id TEXT NOT NULL,
        device_type TEXT NOT NULL, firmware_version TEXT NOT NULL, labels TEXT NOT NULL,
        UNIQUE (device_id, account_id, device_type, firmware_version, labels)
    );
    CREATE TABLE analytics_feature (id INTEGER PRIMARY KEY, feature TEXT NOT NULL UNIQUE);
    CREATE TABLE activity_bits (
        combo INTEGER NOT NULL, block INTEGER NOT NULL, bits INTEGER NOT NULL,
        version INTEGER NOT NULL, PRIMARY KEY (combo, block)
    ) WITHOUT ROWID;
    CREATE INDEX activity_bits_version ON activity_bits (version);
    CREATE TABLE feature_bits (
        combo INTEGER NOT NULL, feature INTEGER NOT NULL, block INTEGER NOT NULL,
        bits INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (combo, feature, block)
    ) WITHOUT ROWID;
    CREATE INDEX feature_bits_version ON feature_bits (version);
    INSERT INTO analytics_combo (device_id, account_id, device_type, firmware_version, labels)
    SELECT DISTINCT device_id, account_id, device_type, firmware_version, labels
    FROM activity_day;
    INSERT INTO analytics_feature (feature) SELECT DISTINCT feature FROM feature_day;
    INSERT INTO activity_bits
    SELECT c.id, o / 64, sum(1 << (o % 64)), 1
    FROM (SELECT *, CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM activity_day) a
    JOIN analytics_combo c USING (device_id, account_id, device_type, firmware_version, labels)
    GROUP BY c.id, o / 64;
    INSERT INTO feature_bits
    SELECT c.id, f.id, o / 64, sum(1 << (o % 64)), 1
    FROM (SELECT *, CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM feature_day) a
    JOIN analytics_combo c USING (device_id, account_id, device_type, firmware_version, labels)
    JOIN analytics_feature f ON f.feature = a.feature
    GROUP BY c.id, f.id, o / 64;
    CREATE TRIGGER activity_bits_ai AFTER INSERT ON activity_day BEGIN
        INSERT OR IGNORE INTO analytics_combo
            (device_id, account_id, device_type, firmware_version, labels)
        VALUES (NEW.device_id, NEW.account_id, NEW.device_type, NEW.firmware_version,
            NEW.labels);
        INSERT INTO activity_bits VALUES (
            (SELECT id FROM analytics_combo WHERE device_id = NEW.device_id
                AND account_id = NEW.account_id AND device_type = NEW.device_type
                AND firmware_version = NEW.firmware_version AND labels = NEW.labels),
            CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) / 64,
            1 << (CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) % 64),
            (SELECT coalesce(max(version), 0) + 1 FROM activity_bits))
        ON CONFLICT (combo, block)
        DO UPDATE SET bits = bits | excluded.bits, version = excluded.version;
    END;
    CREATE TRIGGER feature_bits_ai AFTER INSERT ON feature_day BEGIN
        INSERT OR IGNORE INTO analytics_feature (feature) VALUES (NEW.feature);
        INSERT INTO feature_bits VALUES (
            (SELECT id FROM analytics_combo WHERE device_id = NEW.device_id
                AND account_id = NEW.account_id AND device_type = NEW.device_type
                AND firmware_version = NEW.firmware_version AND labels = NEW.labels),
            (SELECT id FROM analytics_feature WHERE feature = NEW.feature),
            CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) / 64,
            1 << (CAST(julianday(NEW.day) - 1721424.5 AS INTEGER) % 64),
            (SELECT coalesce(max(version), 0) + 1 FROM feature_bits))
        ON CONFLICT (combo, feature, block)
        DO UPDATE SET bits = bits | excluded.bits, version = excluded.version;
    END;
    CREATE TABLE alert_state (
        rule TEXT NOT NULL, subject TEXT NOT NULL, value REAL, sent_ms INTEGER NOT NULL,
        PRIMARY KEY (rule, subject)
    );
    """,
]

_INSERT_EVENT = """
INSERT INTO events (device_id, event_id, stream_id, seq, kind, feature, session_id, user_id,
    ts_ms, wall_ms, clock_method, day, device_type, firmware_version, account_id, labels, props,
    received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_IMPORTED = (
    _INSERT_EVENT + " ON CONFLICT (device_id, event_id) WHERE stream_id IS NULL DO NOTHING"
)
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
# Column names come from this fixed map only, never from the caller: SQL stays parameterised.
_ENTITY_COL: dict[str, str] = {"device": "device_id", "account": "account_id"}


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        # Reads (API, analytics) use their own connection: on the writer's they would run
        # between the statements of an open ingest transaction and see rows that may yet be
        # rolled back. WAL gives the reader the last committed state without blocking ingest.
        self._reader: aiosqlite.Connection | None = None

    async def __aenter__(self) -> SqliteStore:
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

    async def write(self, units: Sequence[ParsedMessage], received_ms: int) -> list[WriteCounts]:
        db = self.db
        counts: list[WriteCounts] = []
        fresh: list[EventRow] = []
        try:
            await db.execute("BEGIN IMMEDIATE")
            streams = await self._load_streams(units)
            for unit in units:
                if unit.stream is not None:
                    new = streams.accept(unit, received_ms)
                else:
                    new = await self._insert_imported(unit.events, received_ms)
                fresh.extend(new)
                stored = len(new)
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
            stream_fresh = [ev for ev in fresh if ev.stream_id is not None]
            if stream_fresh:
                await db.executemany(
                    _INSERT_EVENT, [_event_params(ev, received_ms) for ev in stream_fresh]
                )
            if streams.dirty:
                await db.executemany(_UPSERT_STREAM, streams.rows())
            await self._rollup(fresh)
            await db.commit()
        except sqlite3.Error as exc:
            await _rollback(db)
            raise _translate(exc) from exc
        return counts

    async def _load_streams(self, units: Sequence[ParsedMessage]) -> StreamBook:
        keys = {(u.stream.device_id, u.stream.stream_id) for u in units if u.stream is not None}
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
        return book

    async def _insert_imported(
        self, events: Sequence[EventRow], received_ms: int
    ) -> list[EventRow]:
        """Events with no stream (imports): the partial unique index decides, one at a time."""
        new = []
        for ev in events:
            cur = await self.db.execute(_INSERT_IMPORTED, _event_params(ev, received_ms))
            if cur.rowcount == 1:
                new.append(ev)
        return new

    async def _rollup(self, fresh: Sequence[EventRow]) -> None:
        deltas = fold(fresh)
        db = self.db
        if deltas.activity:
            await db.executemany(_UPSERT_ACTIVITY, deltas.activity)
        if deltas.features:
            await db.executemany(_UPSERT_FEATURE, deltas.features)
        if deltas.devices:
            await db.executemany(_UPSERT_DEVICE, deltas.devices)
        if deltas.sessions:
            await db.executemany(_UPSERT_SESSION, deltas.sessions)

    async def activity(
        self, entity: Entity, until: date, filters: Filters | None = None
    ) -> list[ActivityTuple]:
        col = _ENTITY_COL[entity]
        where, params = filter_clause(filters, _qmark, 0)
        sql = (
            f"SELECT DISTINCT {col}, device_type, firmware_version, labels, day "  # noqa: S608
            f"FROM activity_day WHERE day <= ?{where}"
        )
        return [tuple(r) for r in await self._fetch(sql, (until.isoformat(), *params))]

    async def features(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[FeatureTuple]:
        col = _ENTITY_COL[entity]
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
        col = _ENTITY_COL[entity]
        where, params = filter_clause(filters, _qmark, 0)
        sql = (
            f"SELECT {col}, device_type, firmware_version, labels, day, "  # noqa: S608
            f"sum(sessions), sum(seconds) FROM session_day WHERE day BETWEEN ? AND ?{where} "
            f"GROUP BY {col}, device_type, firmware_version, labels, day"
        )
        rows = await self._fetch(sql, (since.isoformat(), until.isoformat(), *params))
        return [(r[0], r[1], r[2], r[3], r[4], int(r[5]), float(r[6])) for r in rows]

    async def analytics_changes(self, cursor: Cursor) -> Changes:
        """Bitmap rows changed since `cursor` (every row for NO_CURSOR) and the cursor to pass
        next time. One writer at a time and versions that only grow make this exact."""
        act_v, feat_v = cursor
        act = await self._fetch(
            "SELECT combo, block, bits, version FROM activity_bits WHERE version > ?", (act_v,)
        )
        feats = await self._fetch(
            "SELECT combo, feature, block, bits, version FROM feature_bits WHERE version > ?",
            (feat_v,),
        )
        return Changes(
            activity=[(r[0], r[1], r[2]) for r in act],
            feature_bits=[(r[0], r[1], r[2], r[3]) for r in feats],
            cursor=(
                max((r[3] for r in act), default=act_v),
                max((r[4] for r in feats), default=feat_v),
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

    async def alert_state(self) -> dict[tuple[str, str], float | None]:
        rows = await self._fetch("SELECT rule, subject, value FROM alert_state", ())
        return {(r[0], r[1]): r[2] for r in rows}

    async def set_alert_state(
        self,
        opened: Sequence[tuple[str, str, float | None, int]],
        cleared: Sequence[tuple[str, str]],
    ) -> None:
        """Record delivered breaches (rule, subject, value, sent_ms) and forget cleared ones."""
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
        out: dict[str, Any] = {}
        for key, sql in (
            ("events", "SELECT count(*) FROM events"),
            ("devices", "SELECT count(*) FROM devices"),
            ("quarantined", "SELECT count(*) FROM quarantine"),
            ("gap_events", "SELECT coalesce(sum(gap_events), 0) FROM streams"),
            ("dropped_events", "SELECT coalesce(sum(dropped_events), 0) FROM streams"),
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

    async def prune_events(self, before: date) -> int | None:
        # Small chunks: the single writer must not hold the lock long enough to stall ingest.
        total = 0
        while True:
            try:
                cur = await self.db.execute(
                    "DELETE FROM events WHERE rowid IN "
                    "(SELECT rowid FROM events WHERE day < ? LIMIT 5000)",
                    (before.isoformat(),),
                )
                await self.db.commit()
            except sqlite3.Error as exc:
                await _rollback(self.db)
                raise _translate(exc) from exc
            total += cur.rowcount
            if cur.rowcount < 5000:
                return total

    async def devices(self, limit: int, offset: int) -> list[dict[str, Any]]:
        sql = DEVICES_SQL.format(limit="?", offset="?")
        return [device_dict(r) for r in await self._fetch(sql, (limit, offset))]

    async def fleet(self, now_ms: int, limit: int) -> dict[str, Any]:
        """Device counts, backlog and the devices worth a look (collector/fleet.py)."""
        from collector import fleet

        row = (await self._fetch(fleet.summary_sql("sqlite"), (now_ms,)))[0]
        worst = await self._fetch(fleet.attention_sql("sqlite"), (now_ms, limit))
        return fleet.summary_dict(row, worst)

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
