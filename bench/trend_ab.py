"""The warm trend, this checkout's pes_table against another revision's, in one process.

    python -m bench.trend_ab REF [--devices N] [--reps R]

REF's collector/analytics/pes_table.py and pes_pairs.py (read with `git show`) are loaded beside
this checkout's, importing everything else from this checkout, and both answer the same
requests on the same snapshot: a SQLite store filled as the growth suite fills it
(bench.query._fill_sqlite, N devices x 14 days), and that snapshot with a history as long as
the trend (bench.trend_dense.densify). Per snapshot: the 12-week trend (trend_tables on a
SegmentState kept up to date, as a request computes it, after one untimed request that builds
the kept candidates) and the 30-day PES table; CPU time (time.process_time) and wall, medians of
R requests a side, the sides alternated. The rows of both sides must be the same (`==`). Also
this checkout's trend with its slot plan dropped before each request (pes_slots: the plan is
kept with the candidates and made anew after new pairs arrive).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType

from bench.query import END, SETTINGS, _fill_sqlite
from bench.trend_dense import densify
from collector.analytics import pes_pairs, pes_table
from collector.analytics.segments import SegmentState
from collector.analytics.state import Snapshot
from collector.analytics.trend import periods
from collector.reports import make_query
from collector.reports.tables import current_snapshot
from collector.storage import open_store

HERE = Path(__file__).resolve().parent.parent
_MODULES = ("pes_pairs", "pes_table")  # pes_table imports pes_pairs: loaded in this order


def load_revision(ref: str) -> ModuleType:
    """REF's pes_table, with its own pes_pairs (as modules named ab_pes_pairs, ab_pes_table)."""
    loaded: dict[str, ModuleType] = {}
    for name in _MODULES:
        path = f"collector/analytics/{name}.py"
        src = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=HERE, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        for other in loaded:
            src = src.replace(f"from collector.analytics.{other} import", f"from ab_{other} import")
        spec = importlib.util.spec_from_loader(f"ab_{name}", loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        exec(compile(src, f"{ref}:{path}", "exec"), module.__dict__)
        loaded[name] = module
    return loaded["pes_table"]


async def _snapshot(devices: int) -> Snapshot:
    with tempfile.TemporaryDirectory(prefix="pes-trend-ab-") as tmp:
        async with open_store(f"sqlite:///{tmp}/ab.db") as store:
            t0 = time.perf_counter()
            n = await _fill_sqlite(store, devices, 14)
            print(f"filled: {n:,} events in {time.perf_counter() - t0:.0f} s", flush=True)
            return await current_snapshot(store)


def _uptime() -> str:
    with open("/proc/loadavg") as f:
        return "load " + " ".join(f.read().split()[:3])


def _anew(st: SegmentState, request: Callable[[], object]) -> object:
    """The request as after new pairs: the kept candidates' slots planned anew."""
    assert st.pairs is not None
    for cands in pes_pairs._CACHE[st.pairs][2].values():
        cands._plan = None
    return request()


def measure(snap: Snapshot, other: ModuleType, reps: int) -> dict[str, tuple[float, float]]:
    """Per side: (median CPU ms, median wall ms)."""
    q = make_query(SETTINGS, start=END - timedelta(days=83), end=END, group_by=None)
    spans, template = periods(q.start, q.end, "week"), q.params(SETTINGS)
    pes_params = make_query(SETTINGS, start=END - timedelta(days=29), end=END,
                            group_by=None).params(SETTINGS)  # fmt: skip
    st = SegmentState(tuple(q.group_by), q.entity, tuple(sorted(dict(q.filters).items())))
    st.update(snap)

    def trend() -> object:
        return pes_table.trend_tables(st, snap, spans, template)

    sides: dict[str, Callable[[], object]] = {
        "trend REF": lambda: other.trend_tables(st, snap, spans, template),
        "trend": trend,
        "trend, slots planned anew": lambda: _anew(st, trend),
        "pes REF": lambda: other.pes_table(st, snap, pes_params),
        "pes": lambda: pes_table.pes_table(st, snap, pes_params),
    }  # fmt: skip
    for run in sides.values():
        run()  # the kept candidates built, as by the first request
    took: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    rows: dict[str, object] = {}
    for r in range(reps):
        for name in sides if r % 2 == 0 else reversed(sides):
            c0, w0 = time.process_time(), time.perf_counter()
            rows[name] = sides[name]()
            took[name].append(
                ((time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000)
            )
    assert rows["trend REF"] == rows["trend"] == rows["trend, slots planned anew"], "trend rows"
    assert rows["pes REF"] == rows["pes"], "PES rows"
    return {name: (statistics.median(c for c, _ in t), statistics.median(w for _, w in t))
            for name, t in took.items()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref", help="a git revision, e.g. main")
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    other = load_revision(args.ref)
    snap = asyncio.run(_snapshot(args.devices))
    for label, s in (("14-day history", snap), ("12 weeks of history", densify(snap))):
        print(f"{args.devices:,} devices, {label} ({_uptime()}):", flush=True)
        got = measure(s, other, args.reps)
        base = got["trend REF"][0]
        for name, (cpu, wall) in got.items():
            ratio = f", {cpu / base:.2f}x" if name.startswith("trend") else ""
            print(f"  {name.replace('REF', args.ref)}: CPU {cpu:.1f} ms{ratio}, wall {wall:.1f} ms")
    print(f"({_uptime()}, pid {os.getpid()})")


if __name__ == "__main__":
    main()
