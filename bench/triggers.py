"""The cost of SQLite's analytics triggers (activity_bits_ai, feature_bits_ai in
collector/storage/sqlite/schema.py) on ingest: `SqliteStore.write` of the same parsed batches
into a fresh store with the triggers and into one without them (the same-run baseline), CPU
time, best of 3. The triggers fire once per new (device, labels, day) row, so the batches here
are the worst case: every event a new device-day."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.loadgen import NOW_MS
from collector.ingest.parse import parse_batch
from collector.records import ParsedMessage
from collector.storage import open_store

DAY_MS = 86_400_000
TRIGGERS = ("activity_bits_ai", "feature_bits_ai")


def fresh_days(devices: int, days: int) -> list[ParsedMessage]:
    """One batch per device, one feature_use event on each of its last `days` days."""
    out = []
    for d in range(devices):
        device = f"gw-{d:05d}"
        events = [
            {"id": str(uuid.uuid4()), "seq": i + 1, "kind": "feature_use", "feature": "f",
             "ts": NOW_MS - i * DAY_MS, "device_type": "t", "firmware_version": "1",
             "account_id": "a"}
            for i in range(days)
        ]  # fmt: skip
        doc = {"v": 1, "device_id": device, "stream_id": "s", "first_seq": 1, "last_seq": days,
               "sent_ms": NOW_MS, "sent_mono": 1, "boot": "b", "events": events}  # fmt: skip
        unit = parse_batch(
            f"pes/v1/dev/{device}/events", json.dumps(doc).encode(), None, NOW_MS, ZoneInfo("UTC")
        )
        assert len(unit.events) == days, unit.quarantined
        out.append(unit)
    return out


async def _write_cpu(path: Path, units: list[ParsedMessage], triggers: bool) -> float:
    async with open_store(f"sqlite:///{path}"):
        pass  # creates the schema
    if not triggers:
        con = sqlite3.connect(path)
        try:
            for name in TRIGGERS:
                con.execute(f"DROP TRIGGER {name}")
            con.commit()
        finally:
            con.close()
    async with open_store(f"sqlite:///{path}") as store:
        t0 = time.process_time()  # the driver's thread is in this process
        for i in range(0, len(units), 20):
            await store.write(units[i : i + 20], NOW_MS)
        return time.process_time() - t0


async def trigger_cost(tmp: Path, devices: int, days: int) -> tuple[float, float]:
    """(us of CPU per new device-day with the triggers, the same without), best of 3."""
    units = fresh_days(devices, days)
    rows = devices * days
    best = {True: float("inf"), False: float("inf")}
    for r in range(3):
        for triggers in (False, True):
            cpu = await _write_cpu(tmp / f"trig-{r}-{triggers}.db", units, triggers)
            best[triggers] = min(best[triggers], cpu)
    return best[True] / rows * 1e6, best[False] / rows * 1e6
