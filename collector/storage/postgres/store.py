"""PostgreSQL backend (asyncpg): for several collectors sharing one database.

The store composes three parts: the pool and the analytics reads (`reads.py`), the ingest
write path (`write.py`, which says how concurrent collectors stay exact) and, here, the
lifecycle, the schema check and the smaller reads and writes of operations (outcomes,
alerts, retention, partitions, jobs).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

import collector.storage.postgres.partitions as pg_partitions
from collector.errors import ConfigError, StoreError
from collector.records import ParsedMessage, StatusRow
from collector.storage import export, fleet, tallies
from collector.storage.base import AlertState, Entity, OutcomeTuple, Pruned, WriteCounts
from collector.storage.postgres import runs as runs_sql
from collector.storage.postgres import write as write_path
from collector.storage.postgres.errors import translate as _translate
from collector.storage.postgres.reads import PgReads
from collector.storage.postgres.schema import MIGRATIONS, migrate, schema_version
from collector.storage.sql import DEVICES_SQL, SELECT_OUTCOMES, by_day, device_dict, last_per_key
from collector.storage.streams import RecentIds, StreamRow

if TYPE_CHECKING:
    from collector.storage.postgres.schema import Conn

# Outcomes as arrays: keys are unique per call (last_per_key), as one statement requires.
_UPSERT_OUTCOMES = """
INSERT INTO outcomes (entity, id, outcome, day)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[])
ON CONFLICT (entity, id, day) DO UPDATE SET outcome = excluded.outcome
"""
_OUTCOME_CHUNK = 50_000


class PgStore(PgReads):
    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 4, migrate: bool = True
    ) -> None:
        super().__init__()  # the pool, opened below
        self.dsn = dsn
        self._sizes = (min_size, max_size)
        # False for readers (read commands, `serve --role api` on a read replica): they check
        # the schema is current instead of writing to it.
        self._migrate_on_open = migrate
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
        return await write_path.write(self.pool, units, received_ms, statuses, self._recent)

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
                await con.execute(runs_sql.PRUNE_SPLIT_EVENTS, before.toordinal())
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
