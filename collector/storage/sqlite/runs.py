"""Firmware runs on SQLite (migration 5): the statements and the write-back of a plan's runs."""

from __future__ import annotations

import aiosqlite

from collector.storage.runbook import row_of
from collector.storage.runs import Run

# The split path (an event inside a run of another configuration) reads the stored events of
# the runs it cuts (storage/runbook.py). `events` has no index by device (one costs more ingest
# than allowed: docs/performance.md, "The firmware runs' neighbour lookup"), so a splitting
# device is marked and its events kept in `split_events` (migration 8), indexed by device and
# key: one scan of `events` at its first split, seeks after that.
RUN_COLUMNS = (
    "device_id, device_type, firmware_version, first_ts, first_id, first_day, last_ts, last_id, "
    "last_day"
)
LOAD_RUNS = (
    f"SELECT {RUN_COLUMNS} FROM firmware_runs "  # noqa: S608
    "WHERE device_id IN (SELECT value FROM json_each(?))"
)
INSERT_RUN = "INSERT INTO firmware_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
DAY_ORDINAL = "CAST(julianday(day) - 1721424.5 AS INTEGER)"
_IN_JSON = "device_id IN (SELECT value FROM json_each(?))"
ANY_MARKED = "SELECT EXISTS (SELECT 1 FROM split_devices)"
MARKED = f"SELECT device_id FROM split_devices WHERE {_IN_JSON}"  # noqa: S608
MARK = "INSERT OR IGNORE INTO split_devices VALUES (?)"
# The one scan of a device's marking: every stored event of the devices (a JSON array).
COPY_SPLIT_EVENTS = (
    "INSERT OR IGNORE INTO split_events "  # noqa: S608
    f"SELECT device_id, ts_ms, event_id, {DAY_ORDINAL} FROM events WHERE {_IN_JSON}"
)
ADD_SPLIT_EVENT = "INSERT OR IGNORE INTO split_events VALUES (?, ?, ?, ?)"
SPAN_EVENTS = (
    "SELECT ts_ms, event_id, day FROM split_events WHERE device_id = ? AND ts_ms BETWEEN ? AND ?"
)
PRUNE_SPLIT_EVENTS = "DELETE FROM split_events WHERE day < ?"
CHANGED_RUNS = f"SELECT {RUN_COLUMNS}, version FROM firmware_runs WHERE version > ?"  # noqa: S608
FEATURE_USES = (
    f"SELECT device_id, {DAY_ORDINAL}, sum(uses) FROM feature_day "  # noqa: S608
    "WHERE day BETWEEN ? AND ? AND (? IS NULL OR device_type = ?) GROUP BY device_id, day"
)
# The same for a list of devices (a JSON array): the primary key's first column finds them.
DEVICE_FEATURE_USES = (
    f"SELECT device_id, {DAY_ORDINAL}, sum(uses) FROM feature_day "  # noqa: S608
    "WHERE device_id IN (SELECT value FROM json_each(?)) AND day BETWEEN ? AND ? "
    "AND (? IS NULL OR device_type = ?) GROUP BY device_id, day"
)

# Packed (collector/storage/packed.py): one row per table, names joined by char(31), integers
# in decimal joined by commas (printf's hex cost more than it saved). Both scan the table in
# primary-key order (`+col` keeps SQLite off the secondary index: through it, every row is a
# lookup of the table); the uses are grouped by device only, which that order streams, and
# summed per day by numpy. One aggregate reads its rows once: its group_concats agree in order.
_USES_BY_DEVICE = (
    "SELECT group_concat(device_id, char(31)), group_concat(n, ','), group_concat(ds, ''), "
    "group_concat(us, ',') FROM (SELECT device_id, count(*) AS n, group_concat(day, '') AS ds, "
    "group_concat(uses, ',') AS us FROM feature_day WHERE +day BETWEEN ? AND ?{} "
    "GROUP BY device_id)"
)
PACKED_USES = _USES_BY_DEVICE.format("")
DEVICE_PACKED_USES = _USES_BY_DEVICE.format(" AND device_id IN (SELECT value FROM json_each(?))")
_RUNS_SINCE = (
    "SELECT group_concat(device_id, char(31)), group_concat(device_type, char(31)), "
    "group_concat(firmware_version, char(31)), group_concat(first_ts, ','), "
    "group_concat(first_day, ','), group_concat(last_day, ','), max(version) "
    "FROM firmware_runs WHERE {}version > ?"
)
PACKED_RUNS = _RUNS_SINCE.format("+")  # all of them: the table in key order
CHANGED_PACKED_RUNS = _RUNS_SINCE.format("")  # a few devices: through the version index


async def write_runs(db: aiosqlite.Connection, runs: dict[str, tuple[Run, ...]]) -> None:
    """Rewrite the changed devices' runs whole, under one new version (max + 1)."""
    async with db.execute("SELECT coalesce(max(version), 0) + 1 FROM firmware_runs") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 1
    devices = sorted(runs)
    await db.executemany("DELETE FROM firmware_runs WHERE device_id = ?", [(d,) for d in devices])
    await db.executemany(INSERT_RUN, [(*row_of(d, r), version) for d in devices for r in runs[d]])
