"""`export_parquet`: one export run. Plans the partitions to write (plan.py), writes each one
atomically and in row groups as the store's batches come (parquet.py: memory stays bounded),
and records each day in the manifest right after its files, so an interrupted run resumes
where it stopped and never lists a partition that is not on disk."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from collector.export import parquet
from collector.export.errors import ExportBusy
from collector.export.plan import Manifest, TableName, Task, Written, pes_reach, plan
from collector.export.streams import (
    DaySeqs,
    StreamState,
    snapshot_rows,
    stream_days,
    stream_states,
)
from collector.reports import DEFAULT_GROUP_BY, EARLIEST, make_query, pes_rows
from collector.settings import PesSettings
from collector.storage import EXPORT_COLUMNS, Entity, ExportTable, Store

MANIFEST = "manifest.json"
LOCK = ".export.lock"
SNAPSHOT = Path("current") / "streams.parquet"
ENTITIES: tuple[Entity, ...] = ("device", "account")
ROLLUPS: tuple[ExportTable, ...] = ("activity_day", "feature_day", "session_day")


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
    with _exclusive(opts.target):
        return await _export(store, pes, opts, start, end, group_by)


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """One export at a time per folder: two would each write a manifest missing the other's
    days (harmless, but work done twice). The lock goes with the process."""
    with (target / LOCK).open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportBusy(f"another export is writing to {target}") from None
        yield


async def _export(
    store: Store,
    pes: PesSettings,
    opts: ExportOptions,
    start: date,
    end: date,
    group_by: tuple[str, ...],
) -> ExportSummary:
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
    by_day: dict[date, dict[TableName, Task]] = {}
    for t in tasks:
        by_day.setdefault(t.day, {})[t.table] = t
    for day, todo in sorted(by_day.items()):
        staged: dict[TableName, parquet.Staged] = {}
        try:
            if "events" in todo or "streams" in todo:
                staged |= await _events(store, opts.target, day, todo, states)
            for rollup in ROLLUPS:
                if rollup in todo:
                    staged[rollup] = await _rollup(store, opts.target, day, rollup)
            if "pes" in todo:
                rows = await _pes(store, pes, day, group_by, opts.pes_days)
                path = parquet.partition(opts.target, "pes", day)
                staged["pes"] = parquet.stage_rows(path, parquet.schema("pes", group_by), rows)
            await parquet.publish(list(staged.values()))
        except BaseException:  # leave no temporary file behind; the day is redone next run
            for part in staged.values():
                part.tmp.unlink(missing_ok=True)
            raise
        # The manifest follows the files (its fsync also commits their renames to the file
        # system's journal): a file on disk it does not list yet is written again next run.
        for table, part in staged.items():
            manifest.put(table, day.isoformat(), Written(todo[table].fingerprint, part.rows))
            summary.written[table] = summary.written.get(table, 0) + 1
            summary.rows[table] = summary.rows.get(table, 0) + part.rows
        parquet.write_text(manifest_path, manifest.to_json())
        summary.days.append(day.isoformat())
    # The stream snapshot is current state, not a day: replaced whole by every run.
    snap = snapshot_rows(await store.stream_rows())
    await parquet.publish(
        [parquet.stage_rows(opts.target / SNAPSHOT, parquet.snapshot_schema(), snap)]
    )
    summary.streams = len(snap)
    return summary


async def _events(
    store: Store,
    root: Path,
    day: date,
    todo: dict[TableName, Task],
    states: dict[tuple[str, str], StreamState],
) -> dict[TableName, parquet.Staged]:
    """One pass over the day's raw events: their file (if due) and the sequence numbers the
    per-day stream rows are made of (if due)."""
    names = EXPORT_COLUMNS["events"]
    dev, stream, seq = names.index("device_id"), names.index("stream_id"), names.index("seq")
    seqs = DaySeqs()
    part = (
        parquet.PartWriter(parquet.partition(root, "events", day), parquet.schema("events", ()))
        if "events" in todo
        else None
    )
    try:
        async for batch in store.day_rows("events", day):
            for r in batch:
                if r[stream] is not None:
                    seqs.add(r[dev], r[stream], int(r[seq]))
            if part is not None:
                part.write([{"day": day, **dict(zip(names, r, strict=True))} for r in batch])
    except BaseException:
        if part is not None:
            part.abort()
        raise
    out: dict[TableName, parquet.Staged] = {}
    if part is not None:
        out["events"] = part.close()
    if "streams" in todo:
        rows = [{"day": day, **s.as_row()} for s in stream_days(seqs.received(), states)]
        path = parquet.partition(root, "streams", day)
        out["streams"] = parquet.stage_rows(path, parquet.schema("streams", ()), rows)
    return out


async def _rollup(store: Store, root: Path, day: date, table: ExportTable) -> parquet.Staged:
    names = EXPORT_COLUMNS[table]
    part = parquet.PartWriter(parquet.partition(root, table, day), parquet.schema(table, ()))
    try:
        async for batch in store.day_rows(table, day):
            part.write([{"day": day, **dict(zip(names, r, strict=True))} for r in batch])
    except BaseException:
        part.abort()
        raise
    return part.close()


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
