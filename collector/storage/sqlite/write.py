"""The SQLite write path: one ingest transaction on the writer connection.

`write` opens the transaction, loads the streams a batch touches, runs the shared write plan
(storage/plan.py) and executes it with this backend's statements, then commits; the caller
(SqliteStore.write) holds the writer lock, so no other statement runs inside it.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from itertools import repeat
from operator import is_not, itemgetter
from typing import Any

import aiosqlite

from collector.records import EventRow, ParsedMessage, StatusRow
from collector.storage import tallies
from collector.storage.base import WriteCounts
from collector.storage.plan import RunsAccess, WritePlan, plan_write
from collector.storage.runbook import Span, group_runs, split_rows
from collector.storage.runs import Run, Stamp
from collector.storage.sql import INSERT_QUARANTINE, status_columns
from collector.storage.sqlite import runs as runs_sql
from collector.storage.sqlite.errors import rollback, translate
from collector.storage.streams import DAY_MS, RecentIds, StreamBook

_INSERT_EVENT = """
INSERT INTO events (device_id, event_id, stream_id, seq, kind, feature, session_id, user_id,
    ts_ms, wall_ms, clock_method, day, device_type, firmware_version, account_id, labels, props,
    received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# Imported events (no stream) go in as multi-row INSERTs: one statement per chunk instead of a
# thread round trip per event through aiosqlite; RETURNING names the rows that were new.
_IMPORT_ROWS = 1000  # 18 variables a row, under SQLite's 32,766 per statement
_IMPORT_VALUES = "(" + ", ".join(["?"] * 18) + ")"


@functools.lru_cache(maxsize=4)
def _insert_imported_sql(rows: int) -> str:
    head = _INSERT_EVENT.rsplit("VALUES", 1)[0]
    return (
        f"{head}VALUES {', '.join([_IMPORT_VALUES] * rows)}\n"
        "ON CONFLICT (device_id, event_id) WHERE stream_id IS NULL DO NOTHING\n"
        "RETURNING device_id, event_id"
    )


# EventRow fields that are often None. sqlite3 (CPython 3.11) binds None through its adapter
# lookup, ~0.3 us a parameter in the driver's thread (a str or int: ~0.1): a column that is NULL
# in every row of a group is left out of the INSERT (the column's default is NULL) instead.
_OPTIONAL = (EventRow._fields.index("feature"), EventRow._fields.index("session_id"),
             EventRow._fields.index("user_id"))  # fmt: skip
_ALL = tuple(range(len(EventRow._fields)))


@functools.lru_cache(maxsize=16)
def _insert_event_sql(kept: tuple[int, ...]) -> str:
    """The stream events' INSERT binding the EventRow fields `kept`, then received_ms."""
    if kept == _ALL:
        return _INSERT_EVENT
    names = [EventRow._fields[i] for i in kept]
    marks = ", ".join(["?"] * (len(kept) + 1))
    # The column names are EventRow's own field names, never input.
    return f"INSERT INTO events ({', '.join(names)}, received_ms) VALUES ({marks})"  # noqa: S608


def _by_null_columns(
    rows: Sequence[EventRow],
) -> list[tuple[tuple[int, ...], Sequence[EventRow]]]:
    """`rows` in groups that leave the same optional columns NULL, each with the fields to bind:
    one group (the rows as they are) when each optional column is None in all rows or in none,
    the usual case, decided with C-level passes; otherwise grouped row by row."""
    absent, mixed = [], []
    for i in _OPTIONAL:
        present = sum(map(is_not, map(itemgetter(i), rows), repeat(None)))
        if present == 0:
            absent.append(i)
        elif present < len(rows):
            mixed.append(i)
    if not mixed:
        return [(tuple(i for i in _ALL if i not in absent), rows)]
    groups: dict[tuple[int, ...], list[EventRow]] = {}
    for ev in rows:
        nulls = tuple(i for i in mixed if ev[i] is None)
        groups.setdefault(nulls, []).append(ev)
    return [
        (tuple(i for i in _ALL if i not in absent and i not in nulls), group)
        for nulls, group in groups.items()
    ]


_UPSERT_STATUS = """
INSERT INTO devices (device_id, status, status_ms) VALUES (?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, status_ms = excluded.status_ms
"""
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
# Counter rows (storage/tallies.py): one writer, so one slot.
_ADD_EVENT_COUNTS = """
INSERT INTO event_counts VALUES (?, 0, ?)
ON CONFLICT (day, slot) DO UPDATE SET events = events + excluded.events
"""
_ADD_QUARANTINE_COUNTS = """
INSERT INTO quarantine_counts VALUES (?, ?, 0, ?)
ON CONFLICT (day, reason, slot) DO UPDATE SET items = items + excluded.items
"""
_INSERT_QUARANTINE = INSERT_QUARANTINE.format(*"??????")


async def write(
    db: aiosqlite.Connection,
    units: Sequence[ParsedMessage],
    received_ms: int,
    statuses: Sequence[StatusRow],
    recent: RecentIds,
) -> list[WriteCounts]:
    """Store `units` and `statuses` in one transaction; `recent` learns the stream events
    stored once the commit succeeded."""
    try:
        await db.execute("BEGIN IMMEDIATE")
        if statuses:
            devices, docs, ms = status_columns(statuses, received_ms)
            rows = [(d, j, ms) for d, j in zip(devices, docs, strict=True)]
            await db.executemany(_UPSERT_STATUS, rows)
        book = await _load_streams(db, units, received_ms)
        plan = await plan_write(
            units,
            book,
            received_ms,
            lambda evs: _insert_imported(db, evs, received_ms),
            RunsAccess(functools.partial(_load_runs, db), functools.partial(_stamps, db)),
            recent,
        )
        await _execute(db, plan, received_ms)
        await db.commit()
        recent.add_keys(plan.stream_keys)
    except sqlite3.Error as exc:
        await rollback(db)
        raise translate(exc) from exc
    return plan.counts


async def _execute(db: aiosqlite.Connection, plan: WritePlan, received_ms: int) -> None:
    """Run a write plan inside the open transaction. SQLite has one writer, so the order
    of the statements does not matter; the counter rows are kept here (no triggers)."""
    if plan.quarantine:
        await db.executemany(
            _INSERT_QUARANTINE,
            [(received_ms, q.topic, q.device_id, q.reason, q.detail, q.raw)
             for q in plan.quarantine],
        )  # fmt: skip
    if plan.stream_fresh:
        for kept, rows in _by_null_columns(plan.stream_fresh):
            # Plain tuples: sqlite3 binds an exact tuple's items directly, an EventRow (a tuple
            # subclass) through the sequence protocol, ~0.9 us more per event in the driver
            # thread. Made one at a time as the driver binds them (a generator, consumed in its
            # thread), not as a list: 100,000 tuples alive at once were 100,000 more objects
            # for every garbage collection meanwhile to scan.
            keep = itemgetter(*kept)
            await db.executemany(_insert_event_sql(kept), ((*keep(ev), received_ms) for ev in rows))
    if plan.streams:
        await db.executemany(_UPSERT_STREAM, plan.streams)
    deltas = plan.deltas
    if deltas.activity:
        await db.executemany(_UPSERT_ACTIVITY, deltas.activity)
    if deltas.features:
        await db.executemany(_UPSERT_FEATURE, deltas.features)
    if deltas.devices:
        await db.executemany(_UPSERT_DEVICE, deltas.devices)
    if deltas.sessions:
        await db.executemany(_UPSERT_SESSION, deltas.sessions)
    if plan.fresh:
        days, ns = tallies.event_days(plan.fresh)
        await db.executemany(_ADD_EVENT_COUNTS, zip(days, ns, strict=True))
    if plan.quarantine:
        cols = tallies.reason_days((q.reason for q in plan.quarantine), received_ms)
        await db.executemany(_ADD_QUARANTINE_COUNTS, zip(*cols, strict=True))
    if plan.fresh:
        await _add_split_events(db, plan.fresh)
    if plan.runs:
        await runs_sql.write_runs(db, plan.runs)


async def _fetch(db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
    """Inside the write transaction, on the writer: must see its own state."""
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def _load_runs(
    db: aiosqlite.Connection, devices: Sequence[str]
) -> dict[str, tuple[Run, ...]]:
    rows = await _fetch(db, runs_sql.LOAD_RUNS, (json.dumps(list(devices)),))
    return group_runs([tuple(r) for r in rows])


async def _stamps(db: aiosqlite.Connection, spans: Sequence[Span]) -> dict[str, list[Stamp]]:
    """The spans' stored events, from split_events: devices splitting for the first time are
    marked and their events copied there first (the one scan of `events`)."""
    devices = sorted({s.device for s in spans})
    marked = {str(r[0]) for r in await _fetch(db, runs_sql.MARKED, (json.dumps(devices),))}
    if new := [d for d in devices if d not in marked]:
        await db.executemany(runs_sql.MARK, [(d,) for d in new])
        await db.execute(runs_sql.COPY_SPLIT_EVENTS, (json.dumps(new),))
    out: dict[str, list[Stamp]] = {}
    for span in spans:
        rows = await _fetch(db, runs_sql.SPAN_EVENTS, (span.device, span.lo_ts, span.hi_ts))
        out[span.device] = [Stamp(int(ts), str(eid), int(day)) for ts, eid, day in rows]
    return out


async def _add_split_events(db: aiosqlite.Connection, fresh: Sequence[EventRow]) -> None:
    """The marked devices' new events into split_events (usually none are marked: one cheap
    statement a write)."""
    async with db.execute(runs_sql.ANY_MARKED) as cur:
        row = await cur.fetchone()
    if not row or not row[0]:
        return
    devices = json.dumps(sorted({ev.device_id for ev in fresh}))
    marked = {str(r[0]) for r in await _fetch(db, runs_sql.MARKED, (devices,))}
    if marked:
        rows = split_rows(fresh, marked)
        await db.executemany(runs_sql.ADD_SPLIT_EVENT, rows)


async def _load_streams(
    db: aiosqlite.Connection, units: Sequence[ParsedMessage], received_ms: int
) -> StreamBook:
    # In arrival order: the first new streams of a device are the ones admitted.
    keys = dict.fromkeys(
        (u.stream.device_id, u.stream.stream_id) for u in units if u.stream is not None
    )
    book = StreamBook()
    if keys:
        devices = sorted({d for d, _ in keys})
        marks = ",".join("?" * len(devices))
        sql = f"SELECT * FROM streams WHERE device_id IN ({marks})"  # noqa: S608
        rows = await _fetch(db, sql, devices)
        book.load(r for r in rows if (r[0], r[1]) in keys)
        opened: dict[str, int] = {}
        for r in rows:  # every stream of these devices: count those opened in 24 h
            if r[4] >= received_ms - DAY_MS:
                opened[r[0]] = opened.get(r[0], 0) + 1
        book.admit(keys, opened)
    return book


async def _insert_imported(
    db: aiosqlite.Connection, events: Sequence[EventRow], received_ms: int
) -> list[EventRow]:
    """Events with no stream (imports): the partial unique index decides; of copies of one
    event in the batch the first is stored, as if they were inserted one by one."""
    new = []
    for i in range(0, len(events), _IMPORT_ROWS):
        chunk = events[i : i + _IMPORT_ROWS]
        params = [p for ev in chunk for p in _event_params(ev, received_ms)]
        async with db.execute(_insert_imported_sql(len(chunk)), params) as cur:
            stored = {(str(r[0]), str(r[1])) for r in await cur.fetchall()}
        for ev in chunk:
            key = (ev.device_id, ev.event_id)
            if key in stored:
                stored.discard(key)  # a later copy in this chunk was not inserted
                new.append(ev)
    return new


def _event_params(ev: EventRow, received_ms: int) -> tuple[Any, ...]:
    return (*ev, received_ms)  # EventRow's fields are the table's columns, in order
