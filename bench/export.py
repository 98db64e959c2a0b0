"""The warehouse export (`pes-collector export`): bench.query's synthetic fleet (90 days; full
10,000 devices, --quick 1,000, --smoke 50) in SQLite. Figures:
- export_first_s: the first run, every table of every day (raw events, rollups, per-day
  streams, the PES table of each day for device and account);
- export_events_per_s: raw events exported per second of that run, against the same-run
  baseline of only reading them (`Store.day_rows` over every day, nothing written): the ratio
  is what the Parquet writing and the other tables cost on top of the reading;
- export_again_ms: a second run with nothing new (the incremental plan: day marks, manifest);
- export_late_day_s: after one late event of an old day, the run that rewrites that day and
  the PES of the days whose period holds it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.core import Figure, Size
from bench.query import END, SETTINGS, _fill_sqlite
from collector.export import ExportOptions, export_parquet
from collector.storage import open_store


def _say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


async def run(size: Size) -> list[Figure]:
    devices = size.pick(10_000, 1_000, 50)
    # --smoke exports the last 10 days only: every file and fsync of 90 days takes seconds.
    first_day = END - timedelta(days=size.pick(89, 89, 9))
    late_back = size.pick(60, 60, 5)
    unit = f"({devices:,} devices x 90 days)"
    with tempfile.TemporaryDirectory(prefix="pes-bench-export-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'e.db'}"
        out = Path(tmp) / "warehouse"
        async with open_store(url) as store:
            n = await _fill_sqlite(store, devices)
            db = store.db  # type: ignore[attr-defined]  # SqliteStore: the fill writes directly
            await db.execute("INSERT INTO event_counts SELECT day, 0, count(*) FROM events "
                             "GROUP BY day")  # fmt: skip
            await db.commit()
            _say(f"{n:,} events")
            days = [END - timedelta(days=k) for k in range((END - first_day).days + 1)]
            t0 = time.perf_counter()
            read = 0
            for d in days:
                async for rows in store.day_rows("events", d):
                    read += len(rows)
            read_s = time.perf_counter() - t0
            opts = ExportOptions(out, start=first_day, end=END)
            t0 = time.perf_counter()
            first = await export_parquet(store, SETTINGS, opts)
            first_s = time.perf_counter() - t0
            assert first.rows["events"] == read, (first.rows, read)
            t0 = time.perf_counter()
            again = await export_parquet(store, SETTINGS, opts)
            again_ms = (time.perf_counter() - t0) * 1000
            assert again.written == {}, again.written
            late_day = (END - timedelta(days=late_back)).isoformat()
            await db.execute(
                "INSERT INTO events (device_id, event_id, kind, feature, day, device_type, "
                "firmware_version, account_id, labels, ts_ms, wall_ms, clock_method, props, "
                "received_ms) SELECT device_id, 'late', kind, feature, day, device_type, "
                "firmware_version, account_id, labels, ts_ms, wall_ms, clock_method, props, "
                "received_ms FROM events WHERE day = ? LIMIT 1",
                (late_day,),
            )
            await db.execute("UPDATE event_counts SET events = events + 1 WHERE day = ?",
                             (late_day,))  # fmt: skip
            await db.execute(
                "UPDATE activity_day SET events = events + 1 WHERE day = ?1 AND device_id = "
                "(SELECT device_id FROM activity_day WHERE day = ?1 LIMIT 1)",
                (late_day,),
            )
            await db.commit()
            t0 = time.perf_counter()
            late = await export_parquet(store, SETTINGS, opts)
            late_s = time.perf_counter() - t0
    _say(
        f"read {read_s:.1f} s, first export {first_s:.1f} s, again {again_ms:.0f} ms, "
        f"late day {late_s:.1f} s: {json.dumps(late.written)}"
    )
    size_note = f"SQLite, {read:,} events of {(END - first_day).days + 1} days"
    return [
        Figure("export_first_s", first_s, f"s {unit}", note=f"{size_note}, every table"),
        Figure(
            "export_events_per_s",
            n / first_s,
            f"events/s {unit}",
            baseline=n / read_s,
            note="baseline: reading the same events (day_rows), nothing written",
        ),
        Figure("export_again_ms", again_ms, f"ms {unit}", note="nothing new: plan only"),
        Figure(
            "export_late_day_s",
            late_s,
            f"s {unit}",
            note=f"one late event {late_back} days back: {sum(late.written.values())} partitions",
        ),
    ]
