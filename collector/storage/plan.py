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

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from collector.records import EventRow, ParsedMessage, QuarantineRow
from collector.storage.base import WriteCounts
from collector.storage.rollups import Deltas, fold
from collector.storage.runbook import LoadStamps, update_runs
from collector.storage.runs import Run
from collector.storage.streams import RecentIds, StreamBook, StreamRow, identity_keys
from shared import limits as L
from shared.topics import events_topic

# Inserts imported events one by one under the unique (device, event id) index; returns the
# ones that were new.
InsertImported = Callable[[Sequence[EventRow]], Awaitable[list[EventRow]]]
# Loads (PostgreSQL: locks) the stored runs of these devices, inside the write transaction.
LoadRuns = Callable[[Sequence[str]], Awaitable[Mapping[str, Sequence[Run]]]]


@dataclass(frozen=True, slots=True)
class RunsAccess:
    load: LoadRuns
    stamps: LoadStamps


@dataclass(slots=True)
class WritePlan:
    counts: list[WriteCounts] = field(default_factory=list)  # per unit, in order
    fresh: list[EventRow] = field(default_factory=list)  # every newly stored event
    stream_fresh: list[EventRow] = field(default_factory=list)  # ... of them, still to insert
    stream_keys: list[int] = field(default_factory=list)  # RecentIds.key of each, for `add_keys`
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
    recent: RecentIds | None = None,
) -> WritePlan:
    """What to store for `units`, given the streams they touch loaded (and, where several
    writers share the database, locked) into `book`."""
    plan = WritePlan()
    taken: set[int] = set()  # (device, event id) hashes of this plan's stream events
    for unit in units:
        if unit.stream is not None:
            accepted = book.accept(unit, received_ms)
            if accepted is None:  # a new stream over the device's daily allowance
                refused = _refused(unit)
                plan.quarantine.extend(refused)
                plan.counts.append(WriteCounts(0, 0, len(refused)))
                continue
            new = _first_of_each_id(accepted, recent, taken, plan.stream_keys)
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
        plan.runs = await update_runs(plan.fresh, stored, runs.stamps)
    return plan


def _first_of_each_id(
    events: list[EventRow], recent: RecentIds | None, taken: set[int], kept_keys: list[int]
) -> list[EventRow]:
    """Of the events new to their stream, those whose id this device has not sent before
    (under another seq or stream, in this write or one `recent` remembers). Their keys are
    appended to `kept_keys`, so that `recent` learns them after the commit without hashing
    each event again."""
    keys = identity_keys(events)
    batch = set(keys)
    if (
        len(batch) == len(keys)
        and taken.isdisjoint(batch)
        and (recent is None or not recent.seen_any(batch))
    ):
        taken |= batch  # the usual batch: every id new, decided with set operations
        kept_keys.extend(keys)
        return events
    out = []
    for ev in events:
        key = RecentIds.key(ev)
        if key in taken or (recent is not None and recent.seen(key)):
            continue
        taken.add(key)
        kept_keys.append(key)
        out.append(ev)
    return out


def _refused(unit: ParsedMessage) -> list[QuarantineRow]:
    """A batch of a stream the device may not open today: every event quarantined (the batch
    is still acknowledged, so a misbehaving agent does not resend it for ever)."""
    assert unit.stream is not None
    device, stream = unit.stream.device_id, unit.stream.stream_id
    topic = events_topic(device)
    detail = f"stream {stream!r}: over {L.MAX_STREAMS_PER_DEVICE_PER_DAY} new streams in 24 h"
    rows = [
        QuarantineRow(topic, device, "too_many_streams", detail, json.dumps(ev).encode())
        for ev in unit.events
    ]
    # A drops-only batch still leaves a trace of the refused declaration.
    return [*rows, *unit.quarantined] or [
        QuarantineRow(topic, device, "too_many_streams", detail, b"")
    ]
