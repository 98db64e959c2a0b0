"""The PostgreSQL write path: one ingest transaction on a pooled connection.

Concurrency: any collector may receive any batch (shared subscription), so each write locks the
rows of the streams it touches (created first if new, locked in a fixed order to avoid
deadlocks). Two collectors handling resends of the same batch therefore never both count it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from collector.records import EventRow, ParsedMessage, StatusRow
from collector.storage.base import WriteCounts
from collector.storage.plan import RunsAccess, WritePlan, plan_write
from collector.storage.postgres import runs as runs_sql
from collector.storage.postgres.errors import translate
from collector.storage.runbook import Span
from collector.storage.runs import Run, Stamp
from collector.storage.sql import INSERT_QUARANTINE, status_columns
from collector.storage.streams import DAY_MS, RecentIds, StreamBook, StreamKey

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


async def write(
    pool: asyncpg.Pool,
    units: Sequence[ParsedMessage],
    received_ms: int,
    statuses: Sequence[StatusRow],
    recent: RecentIds,
) -> list[WriteCounts]:
    """Store `units` and `statuses` in one transaction; `recent` learns the stream events
    stored once the commit succeeded."""
    try:
        async with pool.acquire() as con:
            async with con.transaction():
                if statuses:
                    await con.execute(_UPSERT_STATUSES, *status_columns(statuses, received_ms))
                plan = await _plan_and_execute(con, units, received_ms, recent)
            recent.add_keys(plan.stream_keys)  # committed
            return plan.counts
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise translate(exc) from exc


async def _plan_and_execute(
    con: Conn, units: Sequence[ParsedMessage], received_ms: int, recent: RecentIds
) -> WritePlan:
    """Plan `units` against the streams and runs they touch (locked) and execute the plan,
    inside the caller's open transaction."""
    book = await _lock_streams(con, units, received_ms)

    async def insert_imported(events: Sequence[EventRow]) -> list[EventRow]:
        return [
            ev
            for ev in events
            if await con.fetchval(_INSERT_IMPORTED, *_event_params(ev, received_ms))
        ]

    marked: set[str] = set()  # devices marked as splitting runs (lock_runs, split_stamps)

    async def load_runs(devices: Sequence[str]) -> dict[str, tuple[Run, ...]]:
        return await runs_sql.lock_runs(con, devices, marked)

    async def stamps(spans: Sequence[Span]) -> dict[str, list[Stamp]]:
        return await runs_sql.split_stamps(con, spans, marked)

    plan = await plan_write(
        units, book, received_ms, insert_imported, RunsAccess(load_runs, stamps),
        recent,
    )  # fmt: skip
    await _execute(con, plan, received_ms)
    if marked:
        await runs_sql.add_split_events(con, plan.fresh, marked)
    return plan


async def _lock_streams(con: Conn, units: Sequence[ParsedMessage], received_ms: int) -> StreamBook:
    arrived = list(
        dict.fromkeys((u.stream.device_id, u.stream.stream_id) for u in units if u.stream)
    )
    book = StreamBook()
    if not arrived:
        return book
    keys = sorted(await _admit_streams(con, book, arrived, received_ms))
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
        days: dict[str, date] = {}  # a write's events share a few days: parse each once
        await con.copy_records_to_table(
            "events",
            records=[_event_params(ev, received_ms, days) for ev in plan.stream_fresh],
            columns=_EVENT_COLUMNS,
        )


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: a quarantined payload's topic, device id or detail
    (which may quote a sender's label key) would fail the whole transaction, and the ingest
    loop would retry it forever."""
    return value.replace("\x00", "\\x00") if value is not None else None


def _event_params(
    ev: EventRow, received_ms: int, days: dict[str, date] | None = None
) -> tuple[Any, ...]:
    day = days.get(ev.day) if days is not None else None
    if day is None:
        day = date.fromisoformat(ev.day)
        if days is not None:
            days[ev.day] = day
    return (*ev[:11], day, *ev[12:], received_ms)  # EventRow's fields are the columns
