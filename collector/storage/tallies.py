"""Exact row counts kept beside the rows, so `GET /v1/stats` and `/v1/fleet` never count raw
events (a scan of every day partition at fleet scale).

Each write transaction adds what it stored per day (`event_counts`: raw events by their `day`;
`quarantine_counts`: quarantined items by UTC day received and reason) to counter rows; a read
sums the rows. Retention removes whole days of raw events and quarantine, and the counter rows
of those days in the same transaction, so the sums are always what the tables hold.

Counter rows are keyed by (day, slot) and a writer uses its own slot (PostgreSQL: its backend
pid modulo SLOTS), so collectors sharing one database do not queue on a single hot row; a read
sums at most SLOTS rows per day held. PostgreSQL keeps them with statement triggers (migration
4 in pg_schema.py: every writer counted, whatever its version); SQLite, the one-writer store,
with these pure functions in its write transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

from collector.records import EventRow
from collector.storage.fleet import SILENT_AFTER_MS

SLOTS = 64  # also in pg_schema.py's migration 4
DAY_MS = 86_400_000


def event_days(fresh: Iterable[EventRow]) -> tuple[list[str], list[int]]:
    """Newly stored events per day, as (days, counts) columns in day order (the order rows are
    locked in, so two writers cannot deadlock on them). Never pass duplicates."""
    return event_days_of(map(attrgetter("day"), fresh))


def event_days_of(days: Iterable[str]) -> tuple[list[str], list[int]]:
    """One entry per event: its day. (days, counts) columns in day order."""
    per_day = Counter(days)
    keys = sorted(per_day)
    return keys, [per_day[d] for d in keys]


def received_day(received_ms: int) -> str:
    """The UTC day a quarantined item was received: the key its retention and counter use."""
    return datetime.fromtimestamp(received_ms // DAY_MS * 86_400, UTC).date().isoformat()


def day_start_ms(day: date) -> int:
    """Epoch milliseconds of `day`'s UTC midnight: items received before it have an earlier
    `received_day`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def reason_days(reasons: Iterable[str], received_ms: int) -> tuple[list[str], list[str], list[int]]:
    """Items quarantined in one write per (received day, reason), as (days, reasons, counts)
    columns in key order."""
    day = received_day(received_ms)
    per_reason = Counter(reasons)
    keys = sorted(per_reason)
    return [day] * len(keys), keys, [per_reason[r] for r in keys]


# Both backends: one statement, so one snapshot. Cost: the counter rows (days held x slots),
# the registry and the stream rows; never the raw events or the quarantined payloads.
STATS_SQL = """
SELECT (SELECT coalesce(sum(events), 0) FROM event_counts),
    (SELECT count(*) FROM devices),
    (SELECT coalesce(sum(items), 0) FROM quarantine_counts),
    (SELECT coalesce(sum(gap_events), 0) FROM streams),
    (SELECT coalesce(sum(dropped_events), 0) FROM streams)
"""
REASONS_SQL = "SELECT reason, sum(items) FROM quarantine_counts GROUP BY reason"


def stats_dict(totals: Sequence[Any], reasons: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """`GET /v1/stats`' store part from STATS_SQL's row and REASONS_SQL's rows (PostgreSQL's
    sum() is numeric: every figure becomes an int)."""
    keys = ("events", "devices", "quarantined", "gap_events", "dropped_events")
    out: dict[str, Any] = {k: int(v) for k, v in zip(keys, totals, strict=True)}
    out["quarantine_by_reason"] = {r[0]: int(r[1]) for r in reasons}
    return out


# Operations gauges (collector /metrics): devices without an event for SILENT_AFTER_MS (never
# sent one included, as on the Fleet page), and alert deliveries by outcome. Parameter: now_ms.
def ops_sql(now: str) -> str:
    return (
        "SELECT (SELECT count(*) FROM devices WHERE coalesce(last_seen_ms, 0) < "  # noqa: S608
        f"{now} - {SILENT_AFTER_MS}), "
        "(SELECT coalesce(sum(n), 0) FROM alert_deliveries WHERE outcome = 'sent'), "
        "(SELECT coalesce(sum(n), 0) FROM alert_deliveries WHERE outcome = 'failed')"
    )


def ops_dict(row: Sequence[Any]) -> dict[str, int]:
    keys = ("silent_devices_24h", "alerts_sent", "alert_webhook_failures")
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


ADD_ALERT_DELIVERIES = (
    "INSERT INTO alert_deliveries VALUES ({0}, {1}) "
    "ON CONFLICT (outcome) DO UPDATE SET n = alert_deliveries.n + excluded.n"
)
