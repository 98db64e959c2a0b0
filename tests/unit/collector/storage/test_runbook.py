"""runbook.update_runs (the write plan's run upkeep) against runs_from_events: random batches of
events in any order, late, resent and split, with the stored neighbours served from memory as a
backend serves them from its events table (with or without the batch's own events)."""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta

import pytest

from collector.records import EventRow
from collector.storage.runbook import update_runs
from collector.storage.runs import FwEvent, Key, Run, Stamp, runs_from_events
from tests.kits.releases import ev, row

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

    async def neighbour(
        device: str, key: Key, below: bool, exclude: frozenset[Key]
    ) -> Stamp | None:
        keys = sorted(
            {(r.ts_ms, r.event_id): r for r in visible if r.device_id == device}.items(),
            reverse=below,
        )
        for k, r in keys:
            if (k < key if below else k > key) and k not in exclude:
                return Stamp(r.ts_ms, r.event_id, date.fromisoformat(r.day).toordinal())
        return None

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
        runs.update(asyncio.run(update_runs(fresh, runs, neighbour)))
        stored += fresh
    for device in {r.device_id for r in events}:
        want = runs_from_events([_fw(r) for r in events if r.device_id == device])
        assert runs[device] == want
