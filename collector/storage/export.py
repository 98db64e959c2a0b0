"""What the warehouse export (collector/export) reads from a store, as SQL both backends run: one
day's rows of a table, per-day change marks, and the stream rows. Table and column names come
from the constants here only, never from a caller."""

from __future__ import annotations

from typing import Literal

ExportTable = Literal["events", "activity_day", "feature_day", "session_day"]
# (day "YYYY-MM-DD", raw events held for it, activity events summed from activity_day)
DayMark = tuple[str, int, int]

_SEGMENT = ("device_id", "account_id", "device_type", "firmware_version", "labels")
# The columns of each table as exported, in order (the day is the partition, not a column).
EXPORT_COLUMNS: dict[ExportTable, tuple[str, ...]] = {
    "events": (
        "device_id", "event_id", "stream_id", "seq", "kind", "feature", "session_id", "user_id",
        "ts_ms", "wall_ms", "clock_method", "device_type", "firmware_version", "account_id",
        "labels", "props", "received_ms",
    ),
    "activity_day": (*_SEGMENT, "events"),
    "feature_day": (*_SEGMENT, "feature", "uses"),
    "session_day": (*_SEGMENT, "sessions", "seconds"),
}  # fmt: skip
# A stable row order, so that the same data gives the same file.
_ORDER: dict[ExportTable, str] = {
    "events": "device_id, ts_ms, event_id",
    "activity_day": ", ".join(_SEGMENT),
    "feature_day": ", ".join((*_SEGMENT, "feature")),
    "session_day": ", ".join(_SEGMENT),
}
# (device, stream, received JSON, dropped JSON, first_seen_ms, last_seen_ms, gaps, dropped)
STREAMS_SQL = (
    "SELECT device_id, stream_id, received, dropped, first_seen_ms, last_seen_ms, gap_events, "
    "dropped_events FROM streams ORDER BY device_id, stream_id"
)


def day_rows_sql(table: ExportTable, placeholder: str) -> str:
    """Every row of `table` on the day bound to `placeholder` (`?` or `$1`)."""
    columns = ", ".join(EXPORT_COLUMNS[table])
    return f"SELECT {columns} FROM {table} WHERE day = {placeholder} ORDER BY {_ORDER[table]}"  # noqa: S608
    # (names from the constants above)


def day_marks_sql(day_text: str, lo: str, hi: str) -> str:
    """Per day in [lo, hi]: the raw events held (the counter rows, storage/tallies.py) and the
    activity events rolled up. `day_text` renders the column `day` as YYYY-MM-DD."""
    return f"""
SELECT d, sum(e), sum(a) FROM (
    SELECT {day_text} AS d, events AS e, 0 AS a FROM event_counts
    WHERE day BETWEEN {lo} AND {hi}
    UNION ALL
    SELECT {day_text} AS d, 0 AS e, events AS a FROM activity_day
    WHERE day BETWEEN {lo} AND {hi}
) t GROUP BY d ORDER BY d
"""  # noqa: S608
