"""Growth: how ingest rate and query time change with the fleet (10,000 -> 100,000 -> 1,000,000
devices), so that a reader sees the cost curve rather than one point.

For each fleet size, on SQLite: the query suite's synthetic fleet (bench/query.py) with a
shorter history, 14 days (90 days of 1,000,000 devices would be ~110 million events: hours to
generate here), then the query suite's PES / compare / trend timings (medians, warm), then the
ingest suite's end-to-end run (bench/ingest.py: load generator process -> Mosquitto -> the
collector's ingest loop) into that same store, which now holds the fleet's history. The baseline
of each figure is the same figure at the smallest fleet of the run, so the ratio is the growth.

Sizes: 10,000 and 100,000 devices (--quick: 1,000 and 10,000). The 1,000,000 point runs only
with PES_BENCH_GROWTH_MAX=1000000 in the environment (it takes about half an hour here)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.core import Figure, Size
from bench.ingest import _run_once
from bench.query import _fill_sqlite, _say, timings
from collector.storage import open_store
from devkit.broker import LocalBroker

DAYS = 14


def _sizes(size: Size) -> list[int]:
    top = int(os.environ.get("PES_BENCH_GROWTH_MAX", "0") or 0)
    sizes = size.pick([10_000, 100_000], [1_000, 10_000], [100, 300])
    sizes += [n for n in (1_000_000,) if n <= top and size is Size.FULL]
    return sizes


def _db_mb_and_remove(tmp: Path, devices: int) -> float:
    files = list(tmp.glob(f"g{devices}.db*"))
    size = sum(p.stat().st_size for p in files)
    for p in files:
        p.unlink()
    return size / 1e6


async def _point(
    devices: int, port: int, tmp: Path, shape: tuple[int, int, int]
) -> dict[str, float]:
    url = f"sqlite:///{tmp / f'g{devices}.db'}"
    async with open_store(url) as store:
        t0 = time.perf_counter()
        n = await _fill_sqlite(store, devices, DAYS)
        fill_s = time.perf_counter() - t0
        cold, pes, compare, trend = await timings(store)
        eps = await _run_once(store, port, shape)
    size_mb = _db_mb_and_remove(tmp, devices)
    _say(
        f"{devices:,} devices: {n:,} events in {fill_s:.0f} s, {size_mb:,.0f} MB; "
        f"pes {pes:.0f} ms, compare {compare:.0f} ms, trend {trend:.0f} ms, "
        f"cold {cold:.0f} ms; ingest {eps:,.0f}/s"
    )
    return {"events": n, "pes": pes, "compare": compare, "trend": trend, "cold": cold,
            "ingest": eps, "db_mb": size_mb}  # fmt: skip


async def run(size: Size) -> list[Figure]:
    shape = size.pick((100, 4, 500), (50, 2, 500), (5, 1, 100))
    points: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pes-bench-growth-") as tmp:
        async with LocalBroker() as broker:
            for devices in _sizes(size):
                points[devices] = await _point(devices, broker.port, Path(tmp), shape)
    first = points[min(points)]
    units = {"pes": "ms", "compare": "ms", "trend": "ms", "cold": "ms", "ingest": "events/s",
             "db_mb": "MB", "events": "events"}  # fmt: skip
    figures = []
    for devices, p in points.items():
        tag = f"{devices // 1000}k" if devices < 1_000_000 else f"{devices // 1_000_000}m"
        for key, unit in units.items():
            figures.append(Figure(f"growth_{key}_{tag}", p[key], unit, baseline=first[key],
                                  note=f"{devices:,} devices x {DAYS} days, SQLite"))  # fmt: skip
    return figures
