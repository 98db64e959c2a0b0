"""Firmware runs on PostgreSQL (migration 5): the statements, the per-device locks taken before
a plan reads the runs, and the write-back of a plan's runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from collector.records import EventRow
from collector.storage.runbook import Span, group_runs, row_of, split_rows
from collector.storage.runs import Run, Stamp

if TYPE_CHECKING:
    from collector.storage.postgres.schema import Conn

# The split path (an event inside a run of another configuration) reads the stored events of
# the runs it cuts (storage/runbook.py). `events` has no index by device (one costs more ingest
# than allowed: docs/performance.md, "The firmware runs' neighbour lookup"), so a splitting
# device is marked (firmware_devices.split) and its events kept in `split_events` (migration
# 8), indexed by device and key: one scan of `events` at its first split, seeks after that.
RUN_COLUMNS = (
    "device_id, device_type, firmware_version, first_ts, first_id, first_day, last_ts, last_id, "
    "last_day"
)
DAY_ORDINAL = "((day - DATE '2000-01-01') + 730120)"
MARK = "UPDATE firmware_devices SET split = true WHERE device_id = ANY($1::text[])"
# The one scan of a device's marking: every stored event of the devices, all partitions.
COPY_SPLIT_EVENTS = (
    "INSERT INTO split_events "  # noqa: S608
    f"SELECT device_id, ts_ms, event_id, {DAY_ORDINAL} FROM events "
    "WHERE device_id = ANY($1::text[]) ON CONFLICT DO NOTHING"
)
ADD_SPLIT_EVENTS = (
    "INSERT INTO split_events SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], "
    "$4::integer[]) ON CONFLICT DO NOTHING"
)
SPAN_EVENTS = (
    "SELECT ts_ms, event_id, day FROM split_events WHERE device_id = $1 AND ts_ms BETWEEN $2 AND $3"
)
PRUNE_SPLIT_EVENTS = "DELETE FROM split_events WHERE day < $1"
INSERT_RUNS = (
    "INSERT INTO firmware_runs SELECT *, pg_current_xact_id()::text::bigint FROM unnest("
    "$1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[], "
    "$7::bigint[], $8::text[], $9::integer[])"
)
CHANGED_RUNS = f"SELECT {RUN_COLUMNS} FROM firmware_runs WHERE version >= $1"  # noqa: S608
FEATURE_USES = (
    f"SELECT device_id, {DAY_ORDINAL}, sum(uses)::bigint FROM feature_day "  # noqa: S608
    "WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR device_type = $3) "
    "GROUP BY device_id, day"
)
DEVICE_FEATURE_USES = (
    f"SELECT device_id, {DAY_ORDINAL}, sum(uses)::bigint FROM feature_day "  # noqa: S608
    "WHERE device_id = ANY($4::text[]) AND day BETWEEN $1 AND $2 "
    "AND ($3::text IS NULL OR device_type = $3) GROUP BY device_id, day"
)

# Packed (collector/storage/packed.py): one row per table, names joined by chr(31), integers as
# int8send bytes. The outer aggregate reads its rows once, so its string_aggs agree in order.
_USES_BY_DEVICE = (
    "SELECT string_agg(device_id, chr(31)), string_agg(int8send(n), ''::bytea), "  # noqa: S608
    "string_agg(h, ''::bytea) FROM (SELECT device_id, count(*) AS n, "
    "string_agg(int8send(d) || int8send(u), ''::bytea) AS h FROM ("
    f"SELECT device_id, {DAY_ORDINAL}::int8 AS d, sum(uses)::int8 AS u FROM feature_day "
    "WHERE day BETWEEN $1 AND $2{} GROUP BY device_id, day) a GROUP BY device_id) b"
)
PACKED_USES = _USES_BY_DEVICE.format("")
DEVICE_PACKED_USES = _USES_BY_DEVICE.format(" AND device_id = ANY($3::text[])")
PACKED_RUNS = (
    "SELECT string_agg(device_id, chr(31)), string_agg(device_type, chr(31)), "
    "string_agg(firmware_version, chr(31)), string_agg(int8send(first_ts) || "
    "int8send(first_day::int8) || int8send(last_day::int8), ''::bytea) "
    "FROM firmware_runs WHERE version >= $1"
)


async def lock_runs(
    con: Conn, devices: Sequence[str], marked: set[str]
) -> dict[str, tuple[Run, ...]]:
    """Load the devices' runs, their firmware_devices rows locked first: created if missing,
    then locked in device order, as the streams, so two collectors never race or deadlock.
    The devices marked as splitting (read under the lock) are added to `marked`."""
    await con.execute(
        "INSERT INTO firmware_devices SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
        list(devices),
    )
    split = await con.fetchval(  # one value back, not a row per device
        "SELECT array_agg(device_id) FILTER (WHERE split) FROM (SELECT device_id, split "
        "FROM firmware_devices WHERE device_id = ANY($1::text[]) ORDER BY device_id FOR UPDATE) t",
        list(devices),
    )
    marked.update(split or ())
    rows = await con.fetch(
        f"SELECT {RUN_COLUMNS} FROM firmware_runs WHERE device_id = ANY($1::text[])",  # noqa: S608
        list(devices),
    )
    return group_runs([tuple(r) for r in rows])


async def write_runs(con: Conn, runs: dict[str, tuple[Run, ...]]) -> None:
    """Rewrite the changed devices' runs whole, versioned by this transaction's id."""
    devices = sorted(runs)
    await con.execute("DELETE FROM firmware_runs WHERE device_id = ANY($1::text[])", devices)
    rows = [row_of(d, r) for d in devices for r in runs[d]]
    await con.execute(INSERT_RUNS, *(list(col) for col in zip(*rows, strict=True)))


async def split_stamps(
    con: Conn, spans: Sequence[Span], marked: set[str]
) -> dict[str, list[Stamp]]:
    """The spans' stored events, from split_events: devices splitting for the first time are
    marked and their events copied there first (the one scan of `events`)."""
    if new := sorted({s.device for s in spans} - marked):
        await con.execute(MARK, new)
        await con.execute(COPY_SPLIT_EVENTS, new)
        marked.update(new)
    out: dict[str, list[Stamp]] = {}
    for span in spans:
        rows = await con.fetch(SPAN_EVENTS, span.device, span.lo_ts, span.hi_ts)
        out[span.device] = [Stamp(int(ts), str(eid), int(day)) for ts, eid, day in rows]
    return out


async def add_split_events(con: Conn, fresh: Sequence[EventRow], marked: set[str]) -> None:
    """The marked devices' new events into split_events."""
    if rows := split_rows(fresh, marked):
        await con.execute(ADD_SPLIT_EVENTS, *map(list, zip(*rows, strict=True)))
