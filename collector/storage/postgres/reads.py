"""PostgreSQL reads: the pool and the analytics reads of PgStore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from collector.errors import StoreError
from collector.storage.base import (
    ActivityTuple,
    Entity,
    EntitySessionsTuple,
    EntityUsesTuple,
    FeatureTuple,
    Filters,
    SessionTuple,
)
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow, rows_from_bytes
from collector.storage.marks import AnalyticsMark, ProbeKey
from collector.storage.packed import PackedRuns, PackedUses, runs_of, uses_of
from collector.storage.postgres import marks as pg_marks
from collector.storage.postgres import runs as runs_sql
from collector.storage.postgres.errors import translate
from collector.storage.runbook import RunChanges, UsesRow
from collector.storage.sql import ENTITY_COLUMN, filter_clause


class PgReads:
    """The connection pool (opened by PgStore) and the reads over it."""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

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
            raise translate(exc) from exc
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
            raise translate(exc) from exc

    async def firmware_runs(self, since: int) -> RunChanges:
        """As Store.firmware_runs; the cursor is the xmin of the previous read's snapshot, as
        in analytics_changes (a device's rows all carry the version of its last rewrite)."""
        try:
            async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read"):
                xmin = await con.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                rows = await con.fetch(runs_sql.CHANGED_RUNS, since)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc
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

    async def firmware_runs_packed(self, since: int) -> PackedRuns:
        """As Store.firmware_runs_packed (the row read where packed.runs_of declines)."""
        try:
            async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read"):
                xmin = await con.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                r = await con.fetchrow(runs_sql.PACKED_RUNS, since)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc
        packed = None
        if r is not None:
            cols = rows_from_bytes(r[3], 3)
            firsts = (cols[:, 0].copy(), cols[:, 1].copy(), cols[:, 2].copy())
            packed = runs_of(r[0], r[1], r[2], firsts, int(xmin))
        return packed or PackedRuns.of_changes(await self.firmware_runs(since))

    async def feature_uses_packed(
        self, since: date, until: date, devices: Sequence[str] | None = None
    ) -> PackedUses:
        """As Store.feature_uses_packed (the row read where packed.uses_of declines)."""
        if devices is None:
            rows = await self._fetch(runs_sql.PACKED_USES, since, until)
        else:
            rows = await self._fetch(runs_sql.DEVICE_PACKED_USES, since, until, list(devices))
        r = rows[0]
        counts, vals = rows_from_bytes(r[1], 1), rows_from_bytes(r[2], 2)
        packed = uses_of(r[0], counts[:, 0].copy(), vals[:, 0].copy(), vals[:, 1].copy())
        return packed or PackedUses.of_rows(await self.feature_uses(None, since, until, devices))

    async def events_seen(self) -> int:
        rows = await self._fetch("SELECT coalesce(sum(events), 0)::bigint FROM devices")
        return int(rows[0][0])

    async def events_seen_by_device(self) -> dict[str, int]:
        rows = await self._fetch("SELECT device_id, events FROM devices")
        return {str(r[0]): int(r[1]) for r in rows}

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return list(await self.pool.fetch(sql, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise translate(exc) from exc


def _dollar(i: int) -> str:
    return f"${i}"
