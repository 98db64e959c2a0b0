"""Ingest, this checkout against another one, in alternated fresh processes.

    python -m bench.ingest_ab OLD_CHECKOUT [--runs N] [--backend sqlite|pg ...] [--shape D B E]

Each run is one end-to-end measurement of the ingest suite (bench/ingest.py `_measure`: the
load generator process -> a private Mosquitto -> the collector's ingest loop in the measured
process), D devices x B batches x E events (default 100 x 4 x 500: 200,000 events), into a
fresh store. Runs alternate old, new, old, new... each in a process of its own whose
PYTHONPATH is that checkout, so both sides see the same machine load in turn; the table gives
each side's median and the ratio. Figures: events/s end to end, and events per CPU-second of
the collector process (its ingest loop and, for SQLite, the driver's thread), the figure
issue 18 sets at >= 100,000 on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


# A child's whole program: only names both checkouts have (bench.ingest, open_store, LocalBroker),
# so the old one needs nothing of this module.
_CHILD = """
import asyncio, json, sys, tempfile, uuid
from bench.ingest import PG_ADMIN, _measure, _pg_db
from collector.storage import open_store
from devkit.broker import LocalBroker

async def one(backend, shape):
    with tempfile.TemporaryDirectory(prefix="pes-bench-ab-") as tmp:
        async with LocalBroker() as broker:
            if backend == "sqlite":
                async with open_store(f"sqlite:///{tmp}/ab.db") as store:
                    return await _measure(store, broker.port, shape)
            name = f"pes_bench_ab_{uuid.uuid4().hex[:8]}"
            await _pg_db(name, True)
            try:
                async with open_store(f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}") as store:
                    return await _measure(store, broker.port, shape)
            finally:
                await _pg_db(name, False)

eps, cpu = asyncio.run(one(sys.argv[1], tuple(int(x) for x in sys.argv[2:5])))
print(json.dumps({"eps": eps, "cpu_eps": cpu}))
"""


def _spawn(checkout: Path, backend: str, shape: tuple[int, int, int]) -> dict[str, float]:
    """One measurement in a fresh process running `checkout`'s code."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    args = [sys.executable, "-c", _CHILD, backend, *map(str, shape)]
    out = subprocess.run(args, env=env, cwd=checkout, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", type=Path, help="the checkout to compare against")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backend", action="append", choices=["sqlite", "pg"])
    p.add_argument("--shape", type=int, nargs=3, default=[100, 4, 500])
    a = p.parse_args()
    shape = (a.shape[0], a.shape[1], a.shape[2])
    sides = {"old": a.old.resolve(), "new": HERE}
    rows = []
    for backend in a.backend or ["sqlite", "pg"]:
        got: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for i in range(a.runs):
            for side, checkout in sides.items():
                before = _load()
                r = _spawn(checkout, backend, shape)
                got[side].append(r)
                print(f"{backend} run {i + 1} {side}: {r['eps']:,.0f} events/s, "
                      f"{r['cpu_eps']:,.0f} events/CPU-s (load {before} -> {_load()})",
                      flush=True)  # fmt: skip
        for key in ("eps", "cpu_eps"):
            old = statistics.median(r[key] for r in got["old"])
            new = statistics.median(r[key] for r in got["new"])
            rows.append(f"| {backend} {key} | {new:,.0f} | {old:,.0f} | {new / old:.2f}x |")
    print("| figure (median of runs) | new | old | ratio |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
