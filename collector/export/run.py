"""`export_parquet`: one export run. Plans the partitions to write (plan.py), writes each one
atomically (parquet.py) and records it in the manifest right after, so an interrupted run
resumes where it stopped and never leaves a partition listed that is not on disk."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.export import parquet
from collector.export.plan import Manifest, TableName, Task, Written, pes_reach, plan
from collector.export.streams import snapshot_rows, stream_days, stream_states
from collector.reports import DEFAULT_GROUP_BY, EARLIEST, make_query, pes_rows
from collector.settings import PesSettings
from collector.storage import EXPORT_COLUMNS, Entity, Store

MANIFEST = "manifest.json"
SNAPSHOT = Path("current") / "streams.parquet"
ENTITIES: tuple[Entity, ...] = ("device", "account")


@dataclass(frozen=True, slots=True)
class ExportOptions:
    target: Path
    start: date | None = None
    end: date | None = None  # default: yesterday in the PES time zone (today is still open)
    pes_days: int = 30
    group_by: str = ",".join(DEFAULT_GROUP_BY)


@dataclass
class ExportSummary:
    target: str
    start: str | None
    end: str
    written: dict[str, int] = field(default_factory=dict)  # partitions written per table
    rows: dict[str, int] = field(default_factory=dict)  # rows written per table
    days: list[str] = field(default_factory=list)  # days with at least one partition written
    streams: int = 0  # rows of the snapshot


async def export_parquet(store: Store, pes: PesSettings, opts: ExportOptions) -> ExportSummary:
    parquet.arrow()  # fail before any work if pyarrow is missing
    end = opts.end or datetime.now(pes.tz).date() - timedelta(days=1)
    start = opts.start or EARLIEST
    group_by = make_query(pes, start=end, end=end, group_by=opts.group_by).group_by
    opts.target.mkdir(parents=True, exist_ok=True)
    manifest_path = opts.target / MANIFEST
    manifest = (
        Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
        if manifest_path.is_file()
        else Manifest()
    )
    reach = pes_reach(opts.pes_days)
    marks = await store.day_marks(max(EARLIEST, start - timedelta(days=reach)), end)
    options = {
        "pes_days": opts.pes_days, "group_by": list(group_by), "weights": pes.weights,
        "core_features": pes.core_features,
    }  # fmt: skip
    tasks = plan(marks, manifest, start, end, options, opts.pes_days)
    first = opts.start.isoformat() if opts.start else None
    summary = ExportSummary(str(opts.target), first, end.isoformat())
    states = stream_states(await store.stream_rows()) if tasks else {}
    by_day: dict[date, list[Task]] = {}
    for t in tasks:
        by_day.setdefault(t.day, []).append(t)
    for day, day_tasks in sorted(by_day.items()):
        events: list[tuple[Any, ...]] | None = None
        for task in day_tasks:
            if task.table in ("events", "streams") and events is None:
                events = await store.day_rows("events", day)
            rows = await _rows(store, pes, task, group_by, opts.pes_days, events or [], states)
            path = parquet.partition(opts.target, task.table, day)
            schema = parquet.schema(task.table, group_by)
            n = await asyncio.to_thread(parquet.write_rows, path, schema, rows)
            manifest.put(task.table, day.isoformat(), Written(task.fingerprint, n))
            parquet.write_text(manifest_path, manifest.to_json())
            summary.written[task.table] = summary.written.get(task.table, 0) + 1
            summary.rows[task.table] = summary.rows.get(task.table, 0) + n
        summary.days.append(day.isoformat())
    # The stream snapshot is current state, not a day: replaced whole by every run.
    snap = snapshot_rows(await store.stream_rows())
    await asyncio.to_thread(
        parquet.write_rows, opts.target / SNAPSHOT, parquet.snapshot_schema(), snap
    )
    summary.streams = len(snap)
    return summary


async def _rows(
    store: Store,
    pes: PesSettings,
    task: Task,
    group_by: Sequence[str],
    pes_days: int,
    events: list[tuple[Any, ...]],
    states: dict[Any, Any],
) -> list[dict[str, Any]]:
    day = task.day
    table: TableName = task.table
    if table == "events":
        names = EXPORT_COLUMNS["events"]
        return [{"day": day, **dict(zip(names, r, strict=True))} for r in events]
    if table == "streams":
        col = EXPORT_COLUMNS["events"]
        dev, stream, seq = col.index("device_id"), col.index("stream_id"), col.index("seq")
        seqs = ((r[dev], r[stream], int(r[seq])) for r in events if r[stream] is not None)
        return [{"day": day, **s.as_row()} for s in stream_days(seqs, states)]
    if table == "pes":
        return await _pes(store, pes, day, group_by, pes_days)
    names = EXPORT_COLUMNS[table]
    return [
        {"day": day, **dict(zip(names, r, strict=True))} for r in await store.day_rows(table, day)
    ]


async def _pes(
    store: Store, pes: PesSettings, day: date, group_by: Sequence[str], pes_days: int
) -> list[dict[str, Any]]:
    """The PES table of the period of `pes_days` days ending on `day`, per entity kind."""
    start = max(EARLIEST, day - timedelta(days=pes_days - 1))
    out = []
    for entity in ENTITIES:
        q = make_query(pes, start=start, end=day, group_by=",".join(group_by), entity=entity)
        for r in await pes_rows(store, pes, q):
            row = {k: r[k] for k in r if k not in ("core_features", "feature_adoption")}
            row.update(
                day=day, entity=entity, period_start=start, period_end=day,
                core_features=json.dumps(r["core_features"]),
                feature_adoption=json.dumps(r["feature_adoption"]),
            )  # fmt: skip
            out.append(row)
    return out
