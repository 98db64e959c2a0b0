"""PostgreSQL backend (asyncpg): for several collectors sharing one database.

Concurrency: any collector may receive any batch (shared subscription), so each write locks the
rows of the streams it touches (created first if new, locked in a fixed order to avoid
deadlocks). Two collectors handling resends of the same batch therefore never both count it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

import collector.storage.postgres.partitions as pg_partitions
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
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow, rows_from_bytes
from collector.storage.marks import AnalyticsMark, ProbeKey
from collector.storage.plan import RunsAccess, WritePlan, plan_write
from collector.storage.postgres import marks as pg_marks
from collector.storage.postgres import runs as runs_sql
from collector.storage.postgres.schema import MIGRATIONS, migrate, schema_version
from collector.storage.runbook import RunChanges, UsesRow
from collector.storage.runs import Key, Run, Stamp
from collector.storage.sql import (
    DEVICES_SQL,
    ENTITY_COLUMN,
    INSERT_QUARANTINE,
    SELECT_OUTCOMES,
    by_day,
    device_dict,
    filter_clause,
    last_per_key,
    status_columns,
)
from collector.storage.streams import DAY_MS, RecentIds, StreamBook, StreamKey, StreamRow

if TYPE_CHECKING:
    from collector.storage.postgres.schema import Conn

_EVENT_COLUMNS = (
    "device_id", "event_id", "stream_id", "seq", "kind", "feature", "session_id", "user_id",
    "ts_ms", "wall_ms", "clock_method", "day", "device_type", "firmware_version", "account_id",
    "labels", "props", "received_ms",
)  # fmt: skip
_PLACEHOLDERS = ", ".join(f"${i}" for i in range(1, len(_EVENT_COLUMNS) + 1))
_INSERT_IMPORTED = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({_PLACEHOLDERS}) "  # noqa: S608
    "ON CONFLICT (device_id, event_id, day) WHERE stream_id IS NULL DO NOTHING RETURNING 1"
)
_UPSERT_ACTIVITY = """
INSERT INTO activity_day VALUES ($1, $2, $3, $4, $5, $6::text::date, $7)
ON CONFLICT (device_id, account_id, device_type, firmware_version, labels, day)
DO UPDATE SET events = activity_day.events + excluded.events
"""
_UPSERT_FEATURE = """
INSERT INTO feature_day VALUES ($1, $2, $3, $4, $5, $6::text::date, $7, $8)
ON CONFLICT (device_id, account_id, device_type, firmware_version, labels, day, feature)
DO UPDATE SET uses = feature_day.uses + excluded.uses
"""
_UPSERT_SESSION = """
INSERT INTO session_day VALUES ($1, $2, $3, $4, $5, $6::text::date, $7, $8)
ON CONFLICT (device_id, account_id, device_type, firmware_version, labels, day)
DO UPDATE SET sessions = session_day.sessions + excluded.sessions,
    seconds = session_day.seconds + excluded.seconds
"""
_UPSERT_DEVICE = """
INSERT INTO devices AS d (device_id, account_id, device_type, firmware_version,
    first_seen_ms, last_seen_ms, events)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (device_id) DO UPDATE SET
    account_id = CASE WHEN excluded.last_seen_ms >= coalesce(d.last_seen_ms, 0)
        THEN excluded.account_id ELSE d.account_id END,
    device_type = CASE WHEN excluded.last_seen_ms >= coalesce(d.last_seen_ms, 0)
        THEN excluded.device_type ELSE d.device_type END,
    firmware_version = CASE WHEN excluded.last_seen_ms >= coalesce(d.last_seen_ms, 0)
        THEN excluded.firmware_version ELSE d.firmware_version END,
    first_seen_ms = least(d.first_seen_ms, excluded.first_seen_ms),
    last_seen_ms = greatest(d.last_seen_ms, excluded.last_seen_ms),
    events = d.events + excluded.events
"""
_UPSERT_STREAM = """
INSERT INTO streams VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (device_id, stream_id) DO UPDATE SET received = excluded.received,
    dropped = excluded.dropped, last_seen_ms = excluded.last_seen_ms,
    gap_events = excluded.gap_events, dropped_events = excluded.dropped_events
"""
# One statement for a group's statuses (one row per device: status_columns keeps the last).
_UPSERT_STATUSES = """
INSERT INTO devices (device_id, status, status_ms)
SELECT d, s, $3 FROM unnest($1::text[], $2::text[]) AS u(d, s)
ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, status_ms = excluded.status_ms
"""
_INSERT_QUARANTINE = INSERT_QUARANTINE.format(*(f"${i}" for i in range(1, 7)))
# Outcomes as arrays: keys are unique per call (last_per_key), as one statement requires.
_UPSERT_OUTCOMES = """
INSERT INTO outcomes (entity, id, outcome, day)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[])
ON CONFLICT (entity, id, day) DO UPDATE SET outcome = excluded.outcome
"""
_OUTCOME_CHUNK = 50_000


class PgStore:
    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 4, migrate: bool = True
    ) -> None:
        self.dsn = dsn
        self._sizes = (min_size, max_size)
        # False for readers (read commands, `serve --role api` on a read replica): they check
        # the schema is current instead of writing to it.
        self._migrate_on_open = migrate
        self._pool: asyncpg.Pool | None = None
        self._recent = RecentIds()  # event ids stored lately (streams.RecentIds)

    async def __aenter__(self) -> PgStore:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self._sizes[0], max_size=self._sizes[1], command_timeout=60
            )
            if self._migrate_on_open:
                await self._migrate()
            else:
                await self._check_schema()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.__aexit__()
            raise _translate(exc) from exc
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    async def _migrate(self) -> None:
        async with self.pool.acquire() as con:
            await migrate(con)

    async def _check_schema(self) -> None:
        async with self.pool.acquire() as con:
            version = await schema_version(con)
        if version is None:
            raise ConfigError(
                "no collector schema in this PostgreSQL database: a collector with role all "
                "or ingest (or `pes-collector import`) creates it on the primary"
            )
        if version < len(MIGRATIONS):
            raise ConfigError(
                f"the database schema is v{version}, this collector needs v{len(MIGRATIONS)}: "
                "start a collector with role all or ingest on the primary to migrate it first"
            )
        if version > len(MIGRATIONS):
            raise StoreError(f"database schema v{version} is newer than this collector")

    async def write(
        self,
        units: Sequence[ParsedMessage],
        received_ms: int,
        statuses: Sequence[StatusRow] = (),
    ) -> list[WriteCounts]:
        try:
            async with self.pool.acquire() as con:
                async with con.transaction():
                    if statuses:
                        await con.execute(_UPSERT_STATUSES, *status_columns(statuses, received_ms))
                    plan = await self._write(con, units, received_ms)
                self._recent.add(plan.stream_fresh)  # committed
                return plan.counts
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def _write(
        self, con: Conn, units: Sequence[ParsedMessage], received_ms: int
    ) -> WritePlan:
        book = await self._lock_streams(con, units, received_ms)

        async def insert_imported(events: Sequence[EventRow]) -> list[EventRow]:
            return [
                ev
                for ev in events
                if await con.fetchval(_INSERT_IMPORTED, *_event_params(ev, received_ms))
            ]

        async def load_runs(devices: Sequence[str]) -> dict[str, tuple[Run, ...]]:
            return await runs_sql.lock_runs(con, devices)

        async def neighbour(
            device: str, key: Key, below: bool, exclude: frozenset[Key]
        ) -> Stamp | None:
            sql = runs_sql.EVENT_BELOW if below else runs_sql.EVENT_ABOVE
            for ts, event_id, day in await con.fetch(sql, device, *key, len(exclude) + 1):
                if (ts, event_id) not in exclude:
                    return Stamp(int(ts), str(event_id), int(day))
            return None

        plan = await plan_write(
            units, book, received_ms, insert_imported, RunsAccess(load_runs, neighbour),
            self._recent,
        )  # fmt: skip
        await _execute(con, plan, received_ms)
        return plan

    async def _lock_streams(
        self, con: Conn, units: Sequence[ParsedMessage], received_ms: int
    ) -> StreamBook:
        arrived = list(
            dict.fromkeys((u.stream.device_id, u.stream.stream_id) for u in units if u.stream)
        )
        book = StreamBook()
        if not arrived:
            return book
        keys = sorted(await self._admit_streams(con, book, arrived, received_ms))
        if not keys:
            return book
        devs, streams = [k[0] for k in keys], [k[1] for k in keys]
        # Create missing rows first so that a brand-new stream is locked like any other.
        await con.execute(
            "INSERT INTO streams SELECT d, s, '[]', '[]', $3, $3, 0, 0 "
            "FROM unnest($1::text[], $2::text[]) AS k(d, s) ORDER BY d, s "
            "ON CONFLICT DO NOTHING",
            devs, streams, received_ms,
        )  # fmt: skip
        rows = await con.fetch(
            "SELECT device_id, stream_id, received, dropped, first_seen_ms, last_seen_ms "
            "FROM streams WHERE (device_id, stream_id) IN "
            "(SELECT * FROM unnest($1::text[], $2::text[])) "
            "ORDER BY device_id, stream_id FOR UPDATE",
            devs, streams,
        )  # fmt: skip
        book.load(tuple(r) for r in rows)
        return book

    @staticmethod
    async def _admit_streams(
        con: Conn, book: StreamBook, arrived: list[StreamKey], received_ms: int
    ) -> list[StreamKey]:
        """The streams of `arrived` to create or lock: the known ones and the new ones within
        their devices' daily allowance (the others are refused in `book`). Read without a
        lock: collectors writing at once may admit a few streams over the allowance."""
        devs, streams = [k[0] for k in arrived], [k[1] for k in arrived]
        rows = await con.fetch(
            "SELECT device_id, stream_id FROM streams WHERE (device_id, stream_id) IN "
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            devs, streams,
        )  # fmt: skip
        known = {(r[0], r[1]) for r in rows}
        new = [k for k in arrived if k not in known]
        if not new:
            return arrived
        counts = await con.fetch(
            "SELECT device_id, count(*) FROM streams WHERE device_id = ANY($1::text[]) "
            "AND first_seen_ms >= $2 GROUP BY device_id",
            sorted({k[0] for k in new}), received_ms - DAY_MS,
        )  # fmt: skip
        admitted = book.admit(new, {r[0]: int(r[1]) for r in counts})
        return [k for k in arrived if k in known or k in admitted]

    async def activity(
        self, entity: Entity, until: date, filters: Filters | None = None
    ) -> list[ActivityTuple]:
        col = ENTITY_COLUMN[entity]
        where, params = filter_clause(filters, _dollar, 2)
        rows = await self._fetch(
            f"SELECT DISTINCT {col}, device_type, firmware_version, labels, "  # noqa: S608
            f"to_char(day, 'YYYY-MM-DD') FROM activity_day WHERE day <= $1{where}",
            until, *params,
        )  # fmt: skip
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def features(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[FeatureTuple]:
        col = ENTITY_COLUMN[entity]
        where, params = filter_clause(filters, _dollar, 3)
        rows = await self._fetch(
            f"SELECT {col}, device_type, firmware_version, labels, "  # noqa: S608
            "to_char(day, 'YYYY-MM-DD'), feature, sum(uses)::bigint FROM feature_day "
            f"WHERE day BETWEEN $1 AND $2{where} GROUP BY 1, 2, 3, 4, 5, 6",
            since, until, *params,
        )  # fmt: skip
        return [(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in rows]

    async def sessions(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[SessionTuple]:
        col = ENTITY_COLUMN[entity]
        where, params = filter_clause(filters, _dollar, 3)
        rows = await self._fetch(
            f"SELECT {col}, device_type, firmware_version, labels, "  # noqa: S608
            "to_char(day, 'YYYY-MM-DD'), sum(sessions)::bigint, sum(seconds) FROM session_day "
            f"WHERE day BETWEEN $1 AND $2{where} GROUP BY 1, 2, 3, 4, 5",
            since, until, *params,
        )  # fmt: skip
        return [(r[0], r[1], r[2], r[3], r[4], int(r[5]), float(r[6])) for r in rows]

    async def entity_uses(self, entity: Entity, since: date, until: date) -> list[EntityUsesTuple]:
        col = ENTITY_COLUMN[entity]
        rows = await self._fetch(
            f"SELECT {col}, {runs_sql.DAY_ORDINAL}, feature, sum(uses)::bigint "  # noqa: S608
            "FROM feature_day WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2, 3",
            since, until,
        )  # fmt: skip
        return [(r[0], int(r[1]), r[2], int(r[3])) for r in rows]

    async def entity_sessions(
        self, entity: Entity, since: date, until: date
    ) -> list[EntitySessionsTuple]:
        col = ENTITY_COLUMN[entity]
        rows = await self._fetch(
            f"SELECT {col}, {runs_sql.DAY_ORDINAL}, sum(sessions)::bigint, sum(seconds) "  # noqa: S608
            "FROM session_day WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2",
            since, until,
        )  # fmt: skip
        return [(r[0], int(r[1]), int(r[2]), float(r[3])) for r in rows]

    async def analytics_changes(self, cursor: Cursor) -> Changes:
        """As SqliteStore.analytics_changes; the cursor is the xmin of the previous read's
        snapshot and rows are read at `version >= xmin`, all in one snapshot."""
        try:
            async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read"):
                xmin = await con.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                # Packed into one bytea per table: a Record per row cost more than the SQL.
                act = await con.fetchval(
                    "SELECT string_agg(int8send(combo::int8) || int8send(block::int8) || "
                    "int8send(bits), ''::bytea) FROM activity_bits WHERE version >= $1",
                    cursor[0],
                )
                feats = await con.fetchval(
                    "SELECT string_agg(int8send(combo::int8) || int8send(feature::int8) || "
                    "int8send(block::int8) || int8send(bits), ''::bytea) FROM feature_bits "
                    "WHERE version >= $1",
                    cursor[1],
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc
        return Changes(
            activity=rows_from_bytes(act, 3),
            feature_bits=rows_from_bytes(feats, 4),
            cursor=(int(xmin), int(xmin)),
        )

    async def analytics_names(
        self, combos: Sequence[int], features: Sequence[int]
    ) -> tuple[list[ComboRow], list[FeatureNameRow]]:
        c = await self._fetch(
            "SELECT * FROM analytics_combo WHERE id = ANY($1::integer[])", list(combos)
        )
        f = await self._fetch(
            "SELECT id, feature FROM analytics_feature WHERE id = ANY($1::integer[])",
            list(features),
        )
        return [tuple(r) for r in c], [(r[0], r[1]) for r in f]

    async def analytics_mark(self, probe: Sequence[ProbeKey] = ()) -> AnalyticsMark:
        try:
            return await pg_marks.analytics_mark(self.pool, probe)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def firmware_runs(self, since: int) -> RunChanges:
        """As Store.firmware_runs; the cursor is the xmin of the previous read's snapshot, as
        in analytics_changes (a device's rows all carry the version of its last rewrite)."""
        try:
            async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read"):
                xmin = await con.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                rows = await con.fetch(runs_sql.CHANGED_RUNS, since)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc
        return RunChanges(
            rows=[(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows],
            cursor=int(xmin),
        )

    async def feature_uses(
        self,
        device_type: str | None,
        since: date,
        until: date,
        devices: Sequence[str] | None = None,
    ) -> list[UsesRow]:
        if devices is None:
            rows = await self._fetch(runs_sql.FEATURE_USES, since, until, device_type)
        else:
            rows = await self._fetch(
                runs_sql.DEVICE_FEATURE_USES, since, until, device_type, list(devices)
            )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def events_seen(self) -> int:
        rows = await self._fetch("SELECT coalesce(sum(events), 0)::bigint FROM devices")
        return int(rows[0][0])

    async def events_seen_by_device(self) -> dict[str, int]:
        rows = await self._fetch("SELECT device_id, events FROM devices")
        return {str(r[0]): int(r[1]) for r in rows}

    async def put_outcomes(self, rows: Sequence[OutcomeTuple]) -> int:
        rows = last_per_key(rows)
        try:
            async with self.pool.acquire() as con, con.transaction():
                for i in range(0, len(rows), _OUTCOME_CHUNK):  # a few statements, not one per row
                    columns = zip(*rows[i : i + _OUTCOME_CHUNK], strict=True)
                    await con.execute(_UPSERT_OUTCOMES, *(list(c) for c in columns))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc
        return len(rows)

    async def outcomes(self, entity: Entity) -> list[OutcomeTuple]:
        rows = await self._fetch(SELECT_OUTCOMES.format("$1"), entity)
        # Sorted here, not by the database's collation: the report's folds follow this order.
        return sorted(((r[0], r[1], r[2], r[3]) for r in rows), key=by_day)

    async def alert_state(self) -> AlertState:
        rows = await self._fetch("SELECT rule, subject, value FROM alert_state")
        return {(r[0], r[1]): r[2] for r in rows}

    async def ops_gauges(self, now_ms: int) -> dict[str, int]:
        row = (await self._fetch(tallies.ops_sql("$1::bigint"), now_ms))[0]
        return tallies.ops_dict(tuple(row))

    async def count_alert_deliveries(self, sent: int, failed: int) -> None:
        rows = [(k, n) for k, n in (("sent", sent), ("failed", failed)) if n]
        try:
            async with self.pool.acquire() as con:
                await con.executemany(tallies.ADD_ALERT_DELIVERIES.format("$1", "$2"), rows)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def set_alert_state(
        self,
        opened: Sequence[tuple[str, str, float | None, int]],
        cleared: Sequence[tuple[str, str]],
    ) -> None:
        """Record delivered breaches (rule, subject, value, sent_ms) and forget cleared ones."""
        try:
            async with self.pool.acquire() as con, con.transaction():
                await con.executemany(
                    "INSERT INTO alert_state VALUES ($1, $2, $3, $4) ON CONFLICT (rule, subject) "
                    "DO UPDATE SET value = excluded.value, sent_ms = excluded.sent_ms",
                    opened,
                )
                await con.executemany(
                    "DELETE FROM alert_state WHERE rule = $1 AND subject = $2", cleared
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def stats(self) -> dict[str, Any]:
        """Counts held now, from the counter rows (storage/tallies.py), the registry and the
        stream rows: never a count of raw events. sum() is numeric in PostgreSQL: cast."""
        row = (await self._fetch(tallies.STATS_SQL))[0]
        rows = await self._fetch(tallies.REASONS_SQL)
        return tallies.stats_dict(tuple(row), [tuple(r) for r in rows])

    async def day_marks(self, since: date, until: date) -> list[export.DayMark]:
        sql = export.day_marks_sql("to_char(day, 'YYYY-MM-DD')", "$1", "$2")
        return [(str(d), int(e), int(a)) for d, e, a in await self._fetch(sql, since, until)]

    async def day_rows(
        self, table: export.ExportTable, day: date, batch: int = 5000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        # A server-side cursor (in a read-only transaction: one snapshot for the whole day).
        try:
            async with self.pool.acquire() as con, con.transaction(readonly=True):
                cur = await con.cursor(export.day_rows_sql(table, "$1"), day)
                while rows := await cur.fetch(batch):
                    yield [tuple(r) for r in rows]
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def stream_rows(self) -> list[StreamRow]:
        rows = await self._fetch(export.STREAMS_SQL)
        return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    async def save_status(self, device_id: str, status: dict[str, Any], received_ms: int) -> None:
        await self.write([], received_ms, [(device_id, status)])

    async def prune_events(self, before: date) -> Pruned | None:
        try:
            async with self.pool.acquire() as con, con.transaction():
                # Once across the group: the collector holding the lock prunes, others skip.
                if not await con.fetchval(
                    "SELECT pg_try_advisory_xact_lock(hashtext('pes-collector-retention'))"
                ):
                    return None
                await _hold_off_writers(con, before)
                deleted, dropped = await pg_partitions.prune(con, before)
                # Every raw event of these days is gone now: so are their counts.
                await con.execute("DELETE FROM event_counts WHERE day < $1", before)
                await con.execute(
                    "DELETE FROM quarantine WHERE received_ms < $1", tallies.day_start_ms(before)
                )
                await con.execute("DELETE FROM quarantine_counts WHERE day < $1", before)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc
        return Pruned(deleted, dropped)

    async def create_partitions(self, today: date) -> int:
        try:
            async with self.pool.acquire() as con:
                return len(await pg_partitions.create_partitions(con, today))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    @contextlib.asynccontextmanager
    async def job(self, name: str, min_gap_s: float) -> AsyncIterator[bool]:
        """True for the one collector of the group that should run job `name` now: it holds
        a session advisory lock for the whole run (so runs never overlap, whatever they take)
        and no run of that job started less than `min_gap_s` ago (database clock, so hosts'
        clocks do not matter). A crashed holder's lock goes with its connection."""
        key = f"pes-collector-job:{name}"
        try:
            con = await self.pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc
        try:
            if not await con.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                yield False
                return
            try:
                claimed = await con.fetchval(
                    "INSERT INTO job_runs AS j VALUES ($1, "
                    "(extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
                    "ON CONFLICT (name) DO UPDATE SET started_ms = excluded.started_ms "
                    "WHERE j.started_ms <= excluded.started_ms - $2 RETURNING true",
                    name, int(min_gap_s * 1000),
                )  # fmt: skip
                yield bool(claimed)
            finally:
                await con.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc
        finally:
            await self.pool.release(con)

    async def devices(self, limit: int, offset: int) -> list[dict[str, Any]]:
        sql = DEVICES_SQL.format(limit="$1", offset="$2")
        return [device_dict(tuple(r)) for r in await self._fetch(sql, limit, offset)]

    async def fleet(self, now_ms: int, limit: int) -> dict[str, Any]:
        """Device counts, backlog and the devices worth a look (storage/fleet.py)."""
        row = (await self._fetch(fleet.summary_sql("postgresql"), now_ms))[0]
        worst = await self._fetch(fleet.attention_sql("postgresql"), now_ms, limit)
        configs = await self._fetch(fleet.configs_sql("postgresql"), fleet.CONFIGS_LIMIT)
        return fleet.summary_dict(tuple(row), [tuple(r) for r in worst], configs)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return list(await self.pool.fetch(sql, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc


async def _execute(con: Conn, plan: WritePlan, received_ms: int) -> None:
    """Run a write plan inside the open transaction. The counter rows are kept by statement
    triggers (migration 4), so a collector of any version is counted."""
    if plan.quarantine:
        await con.executemany(
            _INSERT_QUARANTINE,
            [(received_ms, _text(q.topic), _text(q.device_id), q.reason, _text(q.detail), q.raw)
             for q in plan.quarantine],
        )  # fmt: skip
    if plan.streams:
        await con.executemany(_UPSERT_STREAM, plan.streams)
    deltas = plan.deltas
    if deltas.activity:
        await con.executemany(_UPSERT_ACTIVITY, deltas.activity)
    if deltas.features:
        await con.executemany(_UPSERT_FEATURE, deltas.features)
    if deltas.devices:
        await con.executemany(_UPSERT_DEVICE, deltas.devices)
    if deltas.sessions:
        await con.executemany(_UPSERT_SESSION, deltas.sessions)
    if plan.runs:
        await runs_sql.write_runs(con, plan.runs)
    if plan.stream_fresh:  # last: its counter trigger locks a row held only until the commit
        await con.copy_records_to_table(
            "events",
            records=[_event_params(ev, received_ms) for ev in plan.stream_fresh],
            columns=_EVENT_COLUMNS,
        )


async def _hold_off_writers(con: Conn, before: date) -> None:
    """Retention's counts must match what it removes: no ingest may add rows of the pruned days
    between its DELETEs and the counters' DELETE. Dropping a partition takes `events` itself
    (ACCESS EXCLUSIVE), so take that first when there is one to drop (the order DROP would
    take it in; a trim lock first could deadlock with an insert holding `events`); otherwise
    writes into the partitions trimmed by DELETE (DEFAULT, legacy) wait, reads do not."""
    plan = pg_partitions.plan_prune(await pg_partitions.partitions(con), before)
    await con.execute(f"SET LOCAL lock_timeout = '{pg_partitions.LOCK_TIMEOUT}'")
    if plan.drop:
        await con.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
    for name in plan.trim:  # names from the catalog, of this module's own partitions
        await con.execute(f"LOCK TABLE {name} IN EXCLUSIVE MODE")


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: a quarantined payload's topic, device id or detail
    (which may quote a sender's label key) would fail the whole transaction, and the ingest
    loop would retry it forever."""
    return value.replace("\x00", "\\x00") if value is not None else None


def _dollar(i: int) -> str:
    return f"${i}"


def _event_params(ev: EventRow, received_ms: int) -> tuple[Any, ...]:
    return (
        ev.device_id, ev.event_id, ev.stream_id, ev.seq, ev.kind, ev.feature, ev.session_id,
        ev.user_id, ev.ts_ms, ev.wall_ms, ev.clock_method, date.fromisoformat(ev.day),
        ev.device_type, ev.firmware_version, ev.account_id, ev.labels, ev.props, received_ms,
    )  # fmt: skip


_RETRYABLE_SQLSTATES = {"40001", "40P01", "53300", "57P01", "57P02", "57P03", "08000", "08003",
                        "08006", "08001", "08004"}  # fmt: skip


def _translate(exc: BaseException) -> Exception:
    """The one place asyncpg errors become collector errors (retry vs give up)."""
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return StoreUnavailable(f"postgresql: {exc}")
    state = getattr(exc, "sqlstate", None)
    if state in _RETRYABLE_SQLSTATES:
        return StoreUnavailable(f"postgresql: {exc}")
    return StoreError(f"postgresql: {exc}")
