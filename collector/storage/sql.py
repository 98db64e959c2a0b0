"""SQL both backends run, and the helpers that build its parameters. Statements differ between
the backends only in their placeholders (`?` or `$n`), filled in per backend; no caller text
ever becomes SQL text: filter columns come from a fixed list, values are parameters."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from collector.errors import QueryError
from collector.records import StatusRow
from collector.storage.base import FILTER_COLUMNS, Filters, OutcomeTuple

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
# Column names come from this fixed map only, never from the caller.
ENTITY_COLUMN: dict[str, str] = {"device": "device_id", "account": "account_id"}
# Outcomes: the last row of a key wins (one statement may not touch a row twice in PostgreSQL).
UPSERT_OUTCOME = (
    "INSERT INTO outcomes (entity, id, outcome, day) VALUES ({}, {}, {}, {}) "
    "ON CONFLICT (entity, id, day) DO UPDATE SET outcome = excluded.outcome"
)
SELECT_OUTCOMES = "SELECT entity, id, outcome, day FROM outcomes WHERE entity = {}"
INSERT_QUARANTINE = (
    "INSERT INTO quarantine (received_ms, topic, device_id, reason, detail, raw) "
    "VALUES ({}, {}, {}, {}, {}, {})"
)


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


def last_per_key(rows: Sequence[OutcomeTuple]) -> list[OutcomeTuple]:
    """Outcome rows with one per key (entity, id, day), the last one given."""
    return list({(r[0], r[1], r[3]): r for r in rows}.values())


def by_day(row: OutcomeTuple) -> tuple[date, str]:
    """Outcomes' order: by day, then id in code point order on every backend."""
    return row[3], row[1]
