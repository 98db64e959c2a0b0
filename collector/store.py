"""The storage interface the rest of the collector talks to, and `open_store(url)`.

Backends implement `Store`; each translates its driver's errors into collector.errors at its own
boundary. Every write is one transaction covering events, quarantine, rollups and the device
registry, so a batch is acknowledged only when all of it is durable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from collector.errors import ConfigError, QueryError
from collector.ingest import ParsedMessage

Entity = Literal["device", "account"]
# (entity, device_type, firmware_version, labels_json, day)
ActivityTuple = tuple[str, str, str, str, str]
# (entity, device_type, firmware_version, labels_json, day, feature, uses)
FeatureTuple = tuple[str, str, str, str, str, str, int]
# (entity, device_type, firmware_version, labels_json, day, sessions, seconds)
SessionTuple = tuple[str, str, str, str, str, int, float]
# Rollup columns a query may filter on (equality). Only these names ever reach SQL text.
FILTER_COLUMNS = ("device_type", "firmware_version", "account_id", "device_id")
Filters = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class WriteCounts:
    stored: int
    duplicates: int
    quarantined: int


@dataclass(frozen=True, slots=True)
class Pruned:
    deleted: int  # raw events deleted row by row
    dropped_days: int = 0  # whole day partitions dropped (PostgreSQL), their rows not counted


# An agent's latest status: (device_id, AgentStatus as a dict).
StatusRow = tuple[str, dict[str, Any]]


class Store(Protocol):
    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def write(
        self,
        units: Sequence[ParsedMessage],
        received_ms: int,
        statuses: Sequence[StatusRow] = (),
    ) -> list[WriteCounts]:
        """Store every unit and status in one transaction; return counts per unit, in order."""
        ...

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

    async def stats(self) -> dict[str, Any]: ...

    async def save_status(
        self, device_id: str, status: dict[str, Any], received_ms: int
    ) -> None: ...

    async def devices(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """The device registry with agent status and per-device stream loss, by device id."""
        ...

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


DEVICE_COLUMNS = (
    "device_id", "account_id", "device_type", "firmware_version", "first_seen_ms",
    "last_seen_ms", "events", "status", "status_ms", "gap_events", "dropped_events",
)  # fmt: skip
# Placeholders for limit/offset are filled in per backend (? or $n); no caller text goes in.
DEVICES_SQL = """
SELECT d.device_id, d.account_id, d.device_type, d.firmware_version, d.first_seen_ms,
    d.last_seen_ms, d.events, d.status, d.status_ms,
    coalesce(sum(s.gap_events), 0), coalesce(sum(s.dropped_events), 0)
FROM devices d LEFT JOIN streams s ON s.device_id = d.device_id
GROUP BY d.device_id ORDER BY d.device_id LIMIT {limit} OFFSET {offset}
"""


def filter_clause(
    filters: Filters | None, placeholder: Callable[[int], str], first: int
) -> tuple[str, list[str]]:
    """` AND col = ?...` for equality filters on whitelisted rollup columns."""
    if not filters:
        return "", []
    parts, params = [], []
    for i, (col, value) in enumerate(sorted(filters.items())):
        if col not in FILTER_COLUMNS:
            raise QueryError(
                f"cannot filter on {col[:40]!r}: use one of {', '.join(FILTER_COLUMNS)}"
            )
        if "\x00" in value:  # PostgreSQL refuses NUL in text (a StoreError, so an HTTP 500)
            raise QueryError(f"a {col} filter cannot contain NUL")
        parts.append(f" AND {col} = {placeholder(first + i)}")
        params.append(value)
    return "".join(parts), params


def status_columns(
    statuses: Sequence[StatusRow], received_ms: int
) -> tuple[list[str], list[str], int]:
    """Statuses as columns for one upsert: the last per device, in device order (rows are
    locked in that order, so two collectors cannot deadlock on them)."""
    latest = {device: status for device, status in statuses}
    devices = sorted(latest)
    return devices, [json.dumps(latest[d]) for d in devices], received_ms


def device_dict(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(DEVICE_COLUMNS, row, strict=True))
    out["status"] = json.loads(out["status"]) if out["status"] else None
    out["gap_events"] = int(out["gap_events"])
    out["dropped_events"] = int(out["dropped_events"])
    return out


def sqlite_path(url: str) -> str:
    """File-URI style: sqlite:///var/lib/pes/c.db is /var/lib/pes/c.db (as in file:///...), and
    four slashes mean the same; sqlite:data/c.db is relative to the working directory."""
    rest = url.removeprefix("sqlite:")
    if rest.startswith("//"):
        rest = "/" + rest.lstrip("/")
    if not rest or rest in ("/", "/:memory:", ":memory:"):
        return ":memory:"
    return rest


def open_store(url: str) -> Store:
    """A store for `url` (not yet opened: use `async with`)."""
    if url.startswith("sqlite:"):
        from collector.sqlite_store import SqliteStore

        return SqliteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from collector.pg_store import PgStore

        return PgStore(url)
    raise ConfigError(f"unsupported storage url {url!r}: use sqlite: or postgresql://")
