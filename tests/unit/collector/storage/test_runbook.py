"""runbook.update_runs (the write plan's run upkeep) against runs_from_events: random batches of
events in any order, late, resent and split, with the stored events served from memory as a
backend serves them from its events table (with or without the batch's own events), only
inside the span update_runs asks for; and the stored events are read once per write however
many events split runs."""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta

import pytest

from collector.records import EventRow
from collector.storage.runbook import update_runs
from collector.storage.runs import FwEvent, Run, runs_from_events
from tests.kits.releases import StampsFrom, ev, row

D = date(2026, 3, 2)


def _fw(r: EventRow) -> FwEvent:
    day = date.fromisoformat(r.day).toordinal()
    return FwEvent(r.device_id, r.device_type, r.firmware_version, day, r.ts_ms, r.event_id)


@pytest.mark.parametrize("seed", range(30))
def test_batches_in_any_order_equal_runs_from_events(seed: int) -> None:
    rng = random.Random(seed)
    events = []
    for k in range(rng.randint(5, 60)):
        device = rng.choice(["a", "b"])
        day = D + timedelta(days=rng.randrange(4))
        events.append(row(ev(device, day, rng.choice(["1.0", "2.0", "3.0"]), k,
                             typ=rng.choice(["x", "x", "y"]))))  # fmt: skip
    arrivals = events + rng.sample(events, len(events) // 4)  # resends (imports)
    rng.shuffle(arrivals)
    stored: list[EventRow] = []
    visible: list[EventRow] = []  # what the events table holds while the plan runs
    runs: dict[str, tuple[Run, ...]] = {}

    while arrivals:
        n = rng.randint(1, 8)
        batch, arrivals = arrivals[:n], arrivals[n:]
        known = {(r.device_id, r.event_id) for r in stored}
        fresh: list[EventRow] = []
        seen: set[tuple[str, str]] = set()
        for r in batch:  # the plan's dedup: only events never stored before
            if (r.device_id, r.event_id) not in known | seen:
                seen.add((r.device_id, r.event_id))
                fresh.append(r)
        # imports are in the table already when the runs are planned, stream events not yet
        visible[:] = stored + (fresh if rng.random() < 0.5 else [])
        runs.update(asyncio.run(update_runs(fresh, runs, StampsFrom(list(visible)))))
        stored += fresh
    for device in {r.device_id for r in events}:
        want = runs_from_events([_fw(r) for r in events if r.device_id == device])
        assert runs[device] == want


def _alternating(stored_n: int, split_n: int) -> tuple[list[EventRow], list[EventRow]]:
    """A run of 1.0 of `stored_n` events, then a write of `split_n` events of 2.0 and 1.0 in
    turn, each between two stored ones: every 2.0 event splits a run."""
    stored = [row(ev("a", D, "1.0", 10 * k)) for k in range(stored_n)]
    fresh = [row(ev("a", D, "2.0" if k % 2 == 0 else "1.0", 10 * k + 5)) for k in range(split_n)]
    return stored, fresh


def test_a_write_full_of_splits_reads_the_stored_events_once() -> None:
    stored, fresh = _alternating(200, 150)
    before = runs_from_events([_fw(r) for r in stored])
    load = StampsFrom(stored + fresh)
    runs = asyncio.run(update_runs(fresh, {"a": before}, load))
    assert len(load.calls) == 1
    assert runs["a"] == runs_from_events([_fw(r) for r in stored + fresh])
    assert len(runs["a"]) == 1 + 2 * 75  # 75 splits: each adds its event and a right part


def test_splitting_devices_of_one_write_are_read_together() -> None:
    stored, fresh = [], []
    for device in ("a", "b", "c"):
        s, f = _alternating(20, 9)
        stored += [r._replace(device_id=device) for r in s]
        fresh += [r._replace(device_id=device) for r in f]
    fresh.append(row(ev("d", D, "1.0", 7)))  # a device that splits nothing
    load = StampsFrom(stored)
    runs_before = {d: runs_from_events([_fw(r) for r in stored if r.device_id == d])
                   for d in ("a", "b", "c")}  # fmt: skip
    runs = asyncio.run(update_runs(fresh, runs_before, load))
    assert [sorted(s.device for s in call) for call in load.calls] == [["a", "b", "c"]]
    for d in ("a", "b", "c", "d"):
        want = runs_from_events([_fw(r) for r in stored + fresh if r.device_id == d])
        assert runs[d] == want


def test_in_order_writes_read_nothing() -> None:
    stored = [row(ev("a", D, "1.0", k)) for k in range(10)]
    fresh = [row(ev("a", D, "2.0", k)) for k in range(10, 20)]
    load = StampsFrom(stored)
    runs = asyncio.run(update_runs(fresh, {"a": runs_from_events([_fw(r) for r in stored])}, load))
    assert load.calls == []
    assert runs["a"] == runs_from_events([_fw(r) for r in stored + fresh])


def test_split_of_a_run_the_write_extended_back_over_it() -> None:
    """A stored run 1.0 [100, 200]; the write's 1.0 event at 50 moves its start back, then its
    2.0 event at 60 splits it: the neighbour above is the stored event at 100, outside the
    write's own keys."""
    stored = [row(ev("a", D, "1.0", t)) for t in (100, 150, 200)]
    fresh = [row(ev("a", D, "1.0", 50)), row(ev("a", D, "2.0", 60))]
    load = StampsFrom(stored)
    runs = asyncio.run(update_runs(fresh, {"a": runs_from_events([_fw(r) for r in stored])}, load))
    assert runs["a"] == runs_from_events([_fw(r) for r in stored + fresh])
    assert len(runs["a"]) == 3
