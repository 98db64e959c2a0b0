"""Parquet files, written atomically: a table's rows for one day go to a temporary file in the
partition's folder and are renamed over `part-0.parquet`, so a reader sees the old file or the
new one, never half of one, and never both (no duplicates). pyarrow is imported here only, and
only when an export runs: it is the optional `export` extra."""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from collector.export.errors import ExportUnavailable
from collector.export.plan import TableName

INSTALL_HINT = (
    "the Parquet export needs pyarrow: install the collector's `export` extra, "
    "e.g. pip install 'pes-telemetry[export]' (or: pip install pyarrow)"
)
FILE = "part-0.parquet"


def arrow() -> ModuleType:
    """pyarrow, or ExportUnavailable saying how to install it."""
    try:
        importlib.import_module("pyarrow.parquet")  # the writer, as `pyarrow.parquet`
        return importlib.import_module("pyarrow")
    except ImportError as exc:
        raise ExportUnavailable(INSTALL_HINT) from exc


def schema(table: TableName, group_by: Sequence[str]) -> Any:
    """The Arrow schema of a table's files. Labels and props stay JSON text (their keys differ
    per device); sequence ranges are lists of {first, last}."""
    pa = arrow()
    s, i64, f64 = pa.string(), pa.int64(), pa.float64()
    rng = pa.list_(pa.struct([("first", i64), ("last", i64)]))
    drops = pa.list_(pa.struct([("first", i64), ("last", i64), ("reason", s)]))
    seg = [("device_id", s), ("account_id", s), ("device_type", s), ("firmware_version", s),
           ("labels", s)]  # fmt: skip
    fields: dict[str, list[tuple[str, Any]]] = {
        "events": [
            ("device_id", s), ("event_id", s), ("stream_id", s), ("seq", i64), ("kind", s),
            ("feature", s), ("session_id", s), ("user_id", s), ("ts_ms", i64), ("wall_ms", i64),
            ("clock_method", s), ("device_type", s), ("firmware_version", s),
            ("account_id", s), ("labels", s), ("props", s), ("received_ms", i64),
        ],
        "activity_day": [*seg, ("events", i64)],
        "feature_day": [*seg, ("feature", s), ("uses", i64)],
        "session_day": [*seg, ("sessions", i64), ("seconds", f64)],
        "streams": [
            ("device_id", s), ("stream_id", s), ("events", i64), ("first_seq", i64),
            ("last_seq", i64), ("received", rng), ("gaps", rng), ("gap_events", i64),
            ("dropped", drops), ("dropped_events", i64),
        ],
        "pes": [
            ("entity", s), ("period_start", pa.date32()), ("period_end", pa.date32()),
            *[(a, s) for a in group_by],
            ("active", i64), ("adoption", f64), ("stickiness", f64), ("growth", f64),
            ("pes", f64), ("new", i64), ("recovered", i64), ("dropped", i64),
            ("quick_ratio", f64), ("dau", i64), ("wau", i64), ("mau", i64),
            ("low_sample", pa.bool_()), ("core_features", s), ("feature_adoption", s),
        ],
    }  # fmt: skip
    return pa.schema([("day", pa.date32()), *fields[table]])


def snapshot_schema() -> Any:
    pa = arrow()
    s, i64 = pa.string(), pa.int64()
    rng = pa.list_(pa.struct([("first", i64), ("last", i64)]))
    drops = pa.list_(pa.struct([("first", i64), ("last", i64), ("reason", s)]))
    return pa.schema([
        ("device_id", s), ("stream_id", s), ("first_seen_ms", i64), ("last_seen_ms", i64),
        ("received", rng), ("gaps", rng), ("gap_events", i64), ("dropped", drops),
        ("dropped_events", i64),
    ])  # fmt: skip


def partition(root: Path, table: TableName, day: date) -> Path:
    return root / table / f"day={day.isoformat()}" / FILE


@dataclass(frozen=True, slots=True)
class Staged:
    """A partition written to its temporary name, waiting for `publish`."""

    tmp: Path
    path: Path
    rows: int


class PartWriter:
    """One partition file, written in row groups as rows come (bounded memory) to a temporary
    name; `publish` later makes it durable and renames it over the partition's file, so a
    reader never sees a partial file."""

    def __init__(self, path: Path, schema: Any) -> None:
        self._pa = arrow()
        self._schema = schema
        self.path = path
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not *.parquet: readers' globs skip it.
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer = self._pa.parquet.ParquetWriter(self._tmp, schema, compression="zstd")

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows (dicts keyed by the schema's names; missing names are null)."""
        if not rows:
            return
        columns = {name: [r.get(name) for r in rows] for name in self._schema.names}
        self._writer.write_table(self._pa.Table.from_pydict(columns, schema=self._schema))
        self.rows += len(rows)

    def close(self) -> Staged:
        self._writer.close()
        return Staged(self._tmp, self.path, self.rows)

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)


def stage_rows(path: Path, schema: Any, rows: Sequence[dict[str, Any]]) -> Staged:
    """Write `rows` to `path`'s temporary name in one go."""
    part = PartWriter(path, schema)
    try:
        part.write(rows)
    except BaseException:
        part.abort()
        raise
    return part.close()


async def publish(staged: Sequence[Staged]) -> None:
    """Make the files durable, then rename each over its partition. The fsyncs run at once
    (threads): the file system commits them together instead of one journal commit each,
    which is most of an export's time on a slow disk."""
    await asyncio.gather(*(asyncio.to_thread(_fsync, s.tmp) for s in staged))
    for s in staged:
        os.replace(s.tmp, s.path)


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (the manifest)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
