"""The storage contract: `Store`, everything the rest of the collector calls on a store, and the
row types it takes and returns. Both backends (storage/sqlite, storage/postgres) implement it
completely; callers never look past it.

Every write is one transaction covering events, quarantine, rollups and the device registry,
so a batch is acknowledged only when all of it is durable. Backends translate their driver's
errors into collector.errors at their own boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from collector.records import ParsedMessage, StatusRow
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow
from collector.storage.export import DayMark, ExportTable
from collector.storage.marks import AnalyticsMark, ProbeKey
from collector.storage.packed import PackedRuns, PackedUses
from collector.storage.runbook import RunChanges, UsesRow
from collector.storage.streams import StreamRow

Entity = Literal["device", "account"]
# (entity, device_type, firmware_version, labels_json, day)
ActivityTuple = tuple[str, str, str, str, str]
# (entity, device_type, firmware_version, labels_json, day, feature, uses)
FeatureTuple = tuple[str, str, str, str, str, str, int]
# (entity, device_type, firmware_version, labels_json, day, sessions, seconds)
SessionTuple = tuple[str, str, str, str, str, int, float]
# (entity, day ordinal, feature, uses): feature uses per entity-day, every segment summed
EntityUsesTuple = tuple[str, int, str, int]
# (entity, day ordinal, sessions, seconds): sessions ended per entity-day, segments summed
EntitySessionsTuple = tuple[str, int, int, float]
# Rollup columns a query may filter on (equality). Only these names ever reach SQL text.
FILTER_COLUMNS = ("device_type", "firmware_version", "account_id", "device_id")
Filters = Mapping[str, str]
# A customer outcome (specs/outcomes.md): (entity, id, outcome, day); key (entity, id, day).
OutcomeTuple = tuple[str, str, str, date]
# Delivered alert breaches: (rule, subject) -> the value that breached.
AlertState = dict[tuple[str, str], float | None]


@dataclass(frozen=True, slots=True)
class WriteCounts:
    stored: int
    duplicates: int
    quarantined: int


@dataclass(frozen=True, slots=True)
class Pruned:
    deleted: int  # raw events deleted row by row
    dropped_days: int = 0  # whole day partitions dropped (PostgreSQL), their rows not counted


class Writer(Protocol):
    """What the ingest loop needs: one write transaction per group of messages."""

    async def write(
        self,
        units: Sequence[ParsedMessage],
        received_ms: int,
        statuses: Sequence[StatusRow] = (),
    ) -> list[WriteCounts]:
        """Store every unit and status in one transaction; return counts per unit, in order."""
        ...


class Store(Writer, Protocol):
    """An open store (`async with open_store(url) as store`). Every method is safe to call
    concurrently from one event loop."""

    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    # -- ingest (and `write`, from Writer) ------------------------------------------------------

    async def save_status(
        self, device_id: str, status: dict[str, Any], received_ms: int
    ) -> None: ...

    # -- rollups, read by the reports -----------------------------------------------------------
    async def activity(
        self, entity: Entity, until: date, filters: Filters | None = None
    ) -> list[ActivityTuple]:
        """Distinct entity-day activity per segment attributes, all history up to `until`."""
        ...

    async def features(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[FeatureTuple]: ...

    async def sessions(
        self, entity: Entity, since: date, until: date, filters: Filters | None = None
    ) -> list[SessionTuple]:
        """Sessions ended and their total seconds, per entity-day and segment attributes."""
        ...

    async def entity_uses(self, entity: Entity, since: date, until: date) -> list[EntityUsesTuple]:
        """`features` summed over the segment attributes, days as ordinals: what a per-entity
        health needs, in a fraction of the rows and columns."""
        ...

    async def entity_sessions(
        self, entity: Entity, since: date, until: date
    ) -> list[EntitySessionsTuple]:
        """`sessions` summed over the segment attributes, days as ordinals."""
        ...

    async def analytics_changes(self, cursor: Cursor) -> Changes:
        """Bitmap rows changed since `cursor` (every row for NO_CURSOR) and the cursor to pass
        next time; a row carries its full current value, so applying one twice is harmless."""
        ...

    async def analytics_names(
        self, combos: Sequence[int], features: Sequence[int]
    ) -> tuple[list[ComboRow], list[FeatureNameRow]]:
        """The attributes of these combination ids and the names of these feature ids."""
        ...

    async def analytics_mark(self, probe: Sequence[ProbeKey] = ()) -> AnalyticsMark:
        """The store's identity, schema and newest cursor, and the probed activity rows: what a
        persisted analytics state is checked against (collector/storage/marks.py)."""
        ...

    async def firmware_runs(self, since: int) -> RunChanges:
        """Every firmware run (migration 5) of the devices whose runs changed since cursor
        `since` (all of them for NO_RUNS_CURSOR), and the cursor to pass next time."""
        ...

    async def feature_uses(
        self,
        device_type: str | None,
        since: date,
        until: date,
        devices: Sequence[str] | None = None,
    ) -> list[UsesRow]:
        """feature_use events per (device, day ordinal) over [since, until], summed from the
        feature_day rollup, of one device type or all, of these devices or all."""
        ...

    async def firmware_runs_packed(self, since: int) -> PackedRuns:
        """`firmware_runs` packed by SQL (collector/storage/packed.py): the same runs, sorted by
        device then event order, as columns of codes."""
        ...

    async def feature_uses_packed(
        self, since: date, until: date, devices: Sequence[str] | None = None
    ) -> PackedUses:
        """`feature_uses` of every device type packed by SQL: the same rows, by device."""
        ...

    async def events_seen(self) -> int:
        """Every event stored so far (the device registry's counters summed). It never
        decreases (retention leaves the counters) and every write that stores an event raises
        it in the same transaction as the rollups: a cache built on rollups after reading it is
        current for as long as it stays the same."""
        ...

    async def events_seen_by_device(self) -> dict[str, int]:
        """Per device, its counter of `events_seen`: which devices stored events since a read."""
        ...

    # -- outcomes (specs/outcomes.md) -----------------------------------------------------------
    async def put_outcomes(self, rows: Sequence[OutcomeTuple]) -> int:
        """Store every outcome in one transaction, all or nothing; a row whose key (entity, id,
        day) is already stored, or comes again later in `rows`, replaces it. The rows stored."""
        ...

    async def outcomes(self, entity: Entity) -> list[OutcomeTuple]:
        """The stored outcomes of one kind of entity, by day then id."""
        ...

    # -- the warehouse export (collector/export, storage/export.py) --------------------------
    async def day_marks(self, since: date, until: date) -> list[DayMark]:
        """Per day of [since, until] with data: (day, raw events held, activity events rolled
        up), by day. Read from counter rows and the activity rollup, never the raw events."""
        ...

    def day_rows(
        self, table: ExportTable, day: date, batch: int = 5000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Every row of `table` on `day`, columns as storage.export.EXPORT_COLUMNS, in a stable
        order, in lists of at most `batch` rows: memory stays bounded however large the day."""
        ...

    async def stream_rows(self) -> list[StreamRow]:
        """Every stream's row (storage/streams.py), by device and stream."""
        ...

    # -- operations ---------------------------------------------------------------------------
    async def stats(self) -> dict[str, Any]:
        """Counts held now (events, devices, quarantined by reason, stream gaps and drops), from
        counter rows: never a count of raw events."""
        ...

    async def devices(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """The device registry with agent status and per-device stream loss, by device id."""
        ...

    async def fleet(self, now_ms: int, limit: int) -> dict[str, Any]:
        """Device counts by agent state and recency, buffered backlog, and up to `limit`
        devices worth a look (storage/fleet.py)."""
        ...

    async def ops_gauges(self, now_ms: int) -> dict[str, int]:
        """For /metrics: `silent_devices_24h` (no event for 24 h, or never), `alerts_sent` and
        `alert_webhook_failures` (alert deliveries ever counted by `count_alert_deliveries`)."""
        ...

    async def count_alert_deliveries(self, sent: int, failed: int) -> None:
        """Add one alert run's delivered and failed webhook calls to the stored counters."""
        ...

    async def alert_state(self) -> AlertState:
        """The alert breaches delivered and still open."""
        ...

    async def set_alert_state(
        self,
        opened: Sequence[tuple[str, str, float | None, int]],
        cleared: Sequence[tuple[str, str]],
    ) -> None:
        """Record delivered breaches (rule, subject, value, sent_ms) and forget cleared ones."""
        ...

    # -- housekeeping -------------------------------------------------------------------------
    async def prune_events(self, before: date) -> Pruned | None:
        """Delete raw events of days before `before` (rollups stay). None when another
        collector of the group is already doing it."""
        ...

    async def create_partitions(self, today: date) -> int:
        """Make the raw-event partitions of the days around `today` that are missing; the
        number made (always 0 on SQLite, which does not partition)."""
        ...

    def job(self, name: str, min_gap_s: float) -> AbstractAsyncContextManager[bool]:
        """`async with store.job(name, gap) as mine:` True for exactly one process sharing this
        database, and only if no run of `name` started less than `min_gap_s` ago; runs of the
        same job never overlap."""
        ...
