"""Storage: the `Store` contract and its two backends (storage/sqlite, the embedded default;
storage/postgres, for several collectors sharing one database). Open one with
`open_store(url)`; everything else the collector needs from a database goes through `Store`."""

from collector.storage.base import (
    FILTER_COLUMNS,
    ActivityTuple,
    AlertState,
    Entity,
    FeatureTuple,
    Filters,
    OutcomeTuple,
    Pruned,
    SessionTuple,
    Store,
    WriteCounts,
    Writer,
)
from collector.storage.bitmaps import NO_CURSOR, Changes, ComboRow, Cursor, FeatureNameRow
from collector.storage.export import EXPORT_COLUMNS, DayMark, ExportTable
from collector.storage.open import open_store, sqlite_path
from collector.storage.runbook import NO_RUNS_CURSOR, RunChanges, RunRow, UsesRow
from collector.storage.streams import StreamRow

__all__ = [
    "EXPORT_COLUMNS",
    "FILTER_COLUMNS",
    "NO_CURSOR",
    "NO_RUNS_CURSOR",
    "ActivityTuple",
    "AlertState",
    "Changes",
    "ComboRow",
    "Cursor",
    "DayMark",
    "Entity",
    "ExportTable",
    "FeatureNameRow",
    "FeatureTuple",
    "Filters",
    "OutcomeTuple",
    "Pruned",
    "RunChanges",
    "RunRow",
    "SessionTuple",
    "Store",
    "StreamRow",
    "UsesRow",
    "WriteCounts",
    "Writer",
    "open_store",
    "sqlite_path",
]
