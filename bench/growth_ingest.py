"""The growth suite's ingest figure alone, against a growth store built once (issue 18).

    python -m bench.growth_ingest build DEVICES DIR
    python -m bench.growth_ingest run DB [--shape D B E] [--cold] [--warm] [--direct [--spread]]
        [--pragma P ...]

`build` fills DIR/g{DEVICES}.db as bench/growth.py's point does (the query suite's synthetic
fleet, 14 days, and its firmware runs; 1,000,000 devices: about 8 minutes and 5.3 GB here).
`run` copies that store (the original stays as built, so that runs start alike) and runs the
ingest suite's end-to-end measurement into the copy (bench/ingest.py `_measure`); it prints
events/s, events per collector CPU-second, the CPU of the process's threads, the garbage
collector's time, what the process read from the disk (/proc/self/io read_bytes) and
`os.getloadavg()`, as one JSON line. Each run is a process of its own, so that alternated runs
of two checkouts (PYTHONPATH) start alike.

- `--cold`: the copy's pages dropped from the OS page cache first. In the growth suite the store
  was written minutes before its ingest run; pages not read since are cold, and a host that
  reclaims cold page cache (this machine's does: DAMON pageout of unmapped file pages idle for
  a minute) has dropped them. Without it, the copy's pages are all in memory.
- `--warm`: the query suite's timings first (printed as `query_ms`: the cold first query, then
  warm PES, compare and trend), so that the analytics state is in this process as in the
  growth suite's.
- `--direct`: `SqliteStore.write` alone on the load generator's batches, in groups of 100
  messages, without MQTT: wall time, and the CPU of the writing thread and of the others (the
  database driver's).
- `--spread` (with `--direct`): the D devices are the store's own, spread evenly over its fleet
  (DB named g{DEVICES}.db, as `build` names it), instead of D new ones. A new device's events
  go to one new end of every index by device; an existing device's to its own place in it, as
  a real fleet's do, so that an index of the events by device costs its page reads and writes.
- `--pragma P`: `PRAGMA P` on both connections after opening, e.g. `mmap_size=268435456`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import loadgen
from bench.growth_fleet import DAYS, RUNS
from bench.ingest import _measure
from bench.ingest_profile import _GcClock, _threads
from bench.query import _fill_sqlite, timings
from collector.ingest.gcpolicy import ingest_gc
from collector.ingest.parse import parse_batch
from collector.storage import open_store
from devkit.broker import LocalBroker
from shared.topics import events_topic

Shape = tuple[int, int, int]


async def build(devices: int, folder: Path) -> None:
    db = folder / f"g{devices}.db"
    t0 = time.perf_counter()
    async with open_store(f"sqlite:///{db}") as store:
        con = store.db  # type: ignore[attr-defined]  # SqliteStore's writer connection
        n = await _fill_sqlite(store, devices, DAYS)
        await con.execute(RUNS)
        await con.commit()
        await con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copies need no WAL
    print(f"{db}: {n:,} events in {time.perf_counter() - t0:.0f} s, "
          f"{db.stat().st_size / 1e6:,.0f} MB")  # fmt: skip


def _copy(source: Path, db: Path, cold: bool) -> None:
    shutil.copyfile(source, db)
    fd = os.open(db, os.O_RDONLY)
    try:
        # On disk before the run: its fsyncs would otherwise wait for the copy's writeback.
        os.fsync(fd)
        if cold:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f)}


def _cpu_since(before: dict[int, tuple[str, float]], n: int) -> dict[str, float]:
    """us of CPU per event of each thread that ran since `before` (_threads())."""
    return {
        f"{name}:{tid}": round((s - before.get(tid, (name, 0.0))[1]) / n * 1e6, 2)
        for tid, (name, s) in _threads().items()
        if s > before.get(tid, (name, 0.0))[1]
    }


async def _end_to_end(store: Any, port: int, shape: Shape) -> dict[str, Any]:
    n = shape[0] * shape[1] * shape[2]
    clock, got = _GcClock(), dict[str, Any]()
    spawn = loadgen.spawn

    async def measured_spawn(*args: Any, **kw: Any) -> dict[str, float]:
        before, io0 = _threads(), _io()  # from the first publish, as _measure's CPU
        with clock.counting():
            result = await spawn(*args, **kw)
        got["cpu_us"] = _cpu_since(before, n)  # to the last ack
        got["read_bytes"] = _io()["read_bytes"] - io0["read_bytes"]
        return result

    loadgen.spawn = measured_spawn  # _measure calls it through the module
    try:
        eps, cpu_eps = await _measure(store, port, shape)
    finally:
        loadgen.spawn = spawn
    return {"eps": round(eps), "cpu_eps": round(cpu_eps), **got,
            "gc_s": [round(s, 3) for s in clock.seconds], "gc_runs": clock.runs}  # fmt: skip


async def _direct(store: Any, shape: Shape, fleet: int | None) -> dict[str, Any]:
    if fleet is None:
        names = [f"bench-{d:05d}" for d in range(shape[0])]
    else:  # bench/query.py's device names
        names = [f"dev{d * (fleet // shape[0]):06d}" for d in range(shape[0])]
    msgs = [
        (events_topic(name), payload, ctype)
        for name in names
        for payload, ctype in loadgen.make_batches(name, shape[1], shape[2])
    ]
    received = loadgen.NOW_MS + 60_000
    units = [parse_batch(t, p, c, received, ZoneInfo("UTC")) for t, p, c in msgs]
    n = sum(len(u.events) for u in units)
    before, io0 = _threads(), _io()
    t0 = time.perf_counter()
    with ingest_gc():  # as inside the ingest loop
        for i in range(0, len(units), 100):
            await store.write(units[i : i + 100], received)
    wall = time.perf_counter() - t0
    return {"eps": round(n / wall), "cpu_us": _cpu_since(before, n),
            "read_bytes": _io()["read_bytes"] - io0["read_bytes"]}  # fmt: skip


async def run(source: Path, shape: Shape, a: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pes-bench-gi-", dir=source.parent) as tmp:
        db = Path(tmp) / source.name
        _copy(source, db, a.cold)
        async with LocalBroker() as broker, open_store(f"sqlite:///{db}") as store:
            for con in (store.db, store._reader):  # type: ignore[attr-defined]  # SqliteStore's
                for pragma in a.pragma:
                    await con.execute(f"PRAGMA {pragma}")
            warm = await timings(store) if a.warm else ()
            if a.direct:
                out = await _direct(store, shape, _fleet(source) if a.spread else None)
            else:
                out = await _end_to_end(store, broker.port, shape)
    query_ms = dict(zip(("cold", "pes", "compare", "trend"), warm, strict=False))
    return out | {"query_ms": query_ms, "load": os.getloadavg()}


def _fleet(source: Path) -> int:
    if not (source.stem.startswith("g") and source.stem[1:].isdigit()):
        raise SystemExit(f"--spread: {source.name} is not named g{{DEVICES}}.db")
    return int(source.stem[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("devices", type=int)
    b.add_argument("dir", type=Path)
    r = sub.add_parser("run")
    r.add_argument("db", type=Path)
    r.add_argument("--shape", type=int, nargs=3, default=[100, 4, 500])
    r.add_argument("--cold", action="store_true")
    r.add_argument("--warm", action="store_true")
    r.add_argument("--direct", action="store_true")
    r.add_argument("--spread", action="store_true")
    r.add_argument("--pragma", action="append", default=[])
    a = p.parse_args()
    if a.cmd == "build":
        a.dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(build(a.devices, a.dir))
    else:
        shape = (a.shape[0], a.shape[1], a.shape[2])
        print(json.dumps(asyncio.run(run(a.db, shape, a))))


if __name__ == "__main__":
    main()
