"""SQLite reads: the connections and the analytics reads of SqliteStore.

Reads (API, analytics) use their own connection: on the writer's they would run between the
statements of an open ingest transaction and see rows that may yet be rolled back. WAL gives
the reader the last committed state without blocking ingest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

import aiosqlite

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
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow, rows_from_hex
from collector.storage.marks import AnalyticsMark, ProbeKey
from collector.storage.packed import PackedRuns, PackedUses, day_ordinals, ints, runs_of, uses_of
from collector.storage.runbook import NO_RUNS_CURSOR, RunChanges, UsesRow
from collector.storage.sql import ENTITY_COLUMN, filter_clause
from collector.storage.sqlite import marks as sqlite_marks
from collector.storage.sqlite import runs as runs_sql
from collector.storage.sqlite.errors import translate


class SqliteReads:
    """The writer and reader connections (opened by SqliteStore) and the reads over them."""

    def __init__(self) -> None:
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None  # None for ":memory:"
        # (reader, its data_version, cursor) as of the last analytics_changes read: while the
        # same, no commit happened since and that read's answer holds (see analytics_changes)
        self._unchanged: tuple[aiosqlite.Connection, int, Cursor] | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

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
        reader = self._reader
        seen = None
        if reader is not None:
            # data_version moves with every commit by another connection (this process's
            # writer, another process); the reader never writes. One cheap statement instead
            # of two scans when a dashboard polls between commits. Read before the scans, so a
            # commit during them moves it again and the next call scans.
            seen = int((await self._fetch("PRAGMA data_version", ()))[0][0])
            if self._unchanged == (reader, seen, cursor):
                none = rows_from_hex(None, 3), rows_from_hex(None, 4)
                return Changes(activity=none[0], feature_bits=none[1], cursor=cursor)
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
        changes = Changes(
            activity=rows_from_hex(act[0][0], 3),
            feature_bits=rows_from_hex(feats[0][0], 4),
            cursor=(
                act_v if act[0][1] is None else int(act[0][1]),
                feat_v if feats[0][1] is None else int(feats[0][1]),
            ),
        )
        if reader is not None and seen is not None:
            self._unchanged = (reader, seen, changes.cursor)
        return changes

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

    async def firmware_runs_packed(self, since: int) -> PackedRuns:
        """As Store.firmware_runs_packed (the row read where packed.runs_of declines)."""
        sql = runs_sql.PACKED_RUNS if since == NO_RUNS_CURSOR else runs_sql.CHANGED_PACKED_RUNS
        r = (await self._fetch(sql, (since,)))[0]
        cursor = since if r[6] is None else int(r[6])
        packed = runs_of(r[0], r[1], r[2], (ints(r[3]), ints(r[4]), ints(r[5])), cursor)
        return packed or PackedRuns.of_changes(await self.firmware_runs(since))

    async def feature_uses_packed(
        self, since: date, until: date, devices: Sequence[str] | None = None
    ) -> PackedUses:
        """As Store.feature_uses_packed (the row read where packed.uses_of declines)."""
        days = (since.isoformat(), until.isoformat())
        if devices is None:
            rows = await self._fetch(runs_sql.PACKED_USES, days)
        else:
            rows = await self._fetch(runs_sql.DEVICE_PACKED_USES, (*days, json.dumps(devices)))
        names, counts, day_text, uses = rows[0]
        n = ints(counts)
        day = day_ordinals(day_text, int(n.sum()))
        packed = None if day is None else uses_of(names, n, day, ints(uses))
        return packed or PackedUses.of_rows(await self.feature_uses(None, since, until, devices))

    async def events_seen(self) -> int:
        rows = await self._fetch("SELECT coalesce(sum(events), 0) FROM devices", ())
        return int(rows[0][0])

    async def events_seen_by_device(self) -> dict[str, int]:
        rows = await self._fetch("SELECT device_id, events FROM devices", ())
        return {str(r[0]): int(r[1]) for r in rows}

    async def _fetch(
        self, sql: str, params: Sequence[Any], *, writer: bool = False
    ) -> list[sqlite3.Row]:
        con = self.db if writer or self._reader is None else self._reader
        try:
            # One hand-off to the connection's thread (execute, fetch and close are three).
            return list(await con.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise translate(exc) from exc


def _qmark(_: int) -> str:
    return "?"
