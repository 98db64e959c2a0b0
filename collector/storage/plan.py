"""The write plan both backends run: what one write transaction must store, decided once.

`plan_write` walks the units of a write in order: a stream batch keeps the events its stream
has not received yet (`StreamBook.accept`, the dedup of stream events); an import (no stream)
asks the backend to insert each event under its unique index, which decides. What remains is
the same for both backends: quarantined items, stream rows, the new events, the rollup
deltas they add (`rollups.fold`) and the firmware runs they change (`runbook.update_runs`,
from the runs the backend loads, and on PostgreSQL locks, through `RunsAccess`). A backend
only opens the transaction, loads and locks the streams (and runs), and executes the plan
with its own statements, in its own order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from collector.records import EventRow, ParsedMessage, QuarantineRow
from collector.storage.base import WriteCounts
from collector.storage.rollups import Deltas, fold
from collector.storage.runbook import Neighbour, update_runs
from collector.storage.runs import Run
from collector.storage.streams import StreamBook, StreamRow

# Inserts imported events one by one under the unique (device, event id) index; returns the
# ones that were new.
InsertImported = Callable[[Sequence[EventRow]], Awaitable[list[EventRow]]]
# Loads (PostgreSQL: locks) the stored runs of these devices, inside the write transaction.
LoadRuns = Callable[[Sequence[str]], Awaitable[Mapping[str, Sequence[Run]]]]


@dataclass(frozen=True, slots=True)
class RunsAccess:
    load: LoadRuns
    neighbour: Neighbour


@dataclass(slots=True)
class WritePlan:
    counts: list[WriteCounts] = field(default_factory=list)  # per unit, in order
    fresh: list[EventRow] = field(default_factory=list)  # every newly stored event
    stream_fresh: list[EventRow] = field(default_factory=list)  # ... of them, still to insert
    quarantine: list[QuarantineRow] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)  # stream rows to upsert
    deltas: Deltas = field(default_factory=lambda: fold(()))
    runs: dict[str, tuple[Run, ...]] = field(default_factory=dict)  # devices whose runs changed


async def plan_write(
    units: Sequence[ParsedMessage],
    book: StreamBook,
    received_ms: int,
    insert_imported: InsertImported,
    runs: RunsAccess,
) -> WritePlan:
    """What to store for `units`, given the streams they touch loaded (and, where several
    writers share the database, locked) into `book`."""
    plan = WritePlan()
    for unit in units:
        if unit.stream is not None:
            new = book.accept(unit, received_ms)
            plan.stream_fresh.extend(new)
        else:
            new = await insert_imported(unit.events)
        plan.fresh.extend(new)
        plan.quarantine.extend(unit.quarantined)
        plan.counts.append(
            WriteCounts(len(new), len(unit.events) - len(new), len(unit.quarantined))
        )
    if book.dirty:
        plan.streams = book.rows()
    plan.deltas = fold(plan.fresh)
    if plan.fresh:
        stored = await runs.load(sorted({ev.device_id for ev in plan.fresh}))
        plan.runs = await update_runs(plan.fresh, stored, runs.neighbour)
    return plan
