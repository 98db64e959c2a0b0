"""Where the collector's CPU goes during one end-to-end ingest run on SQLite.

    python -m bench.ingest_profile [--shape D B E] [--stages]

One measurement of the ingest suite (bench/ingest.py `_measure`: the load generator process ->
a private Mosquitto -> the collector's ingest loop in this process), D devices x B batches x E
events (default 100 x 4 x 500: 200,000 events), into a fresh SQLite store. Prints events/s and
events per CPU-second as the suite does, then the CPU of each thread of this process during the
run (/proc/self/task: the ingest loop's main thread, the database driver's thread, paho's
network thread) in us per event, and the time the garbage collector took (gc.callbacks), per
generation. The load generator and Mosquitto are other processes and not counted. /proc counts
in clock ticks (10 ms): use loads of 100,000 events or more.

`--stages` then times the stages alone on the load generator's batches, best of 3 (no MQTT):
`parse_batch`, and `SqliteStore.write` in groups of 100 messages, split into the main thread's
CPU (the write plan, the statements' dispatch) and the driver thread's. It measures whichever
checkout is first on PYTHONPATH: `PYTHONPATH=OTHER python bench/ingest_profile.py` measures
another one with this script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from bench import loadgen
from bench.ingest import _measure
from collector.ingest.parse import parse_batch
from collector.storage import open_store
from devkit.broker import LocalBroker
from shared.topics import events_topic

_TICK = os.sysconf("SC_CLK_TCK")


def _threads() -> dict[int, tuple[str, float]]:
    """CPU seconds of each thread of this process, by native id: (name, seconds)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[int(tid)] = (names.get(int(tid), "?"), (int(fields[11]) + int(fields[12])) / _TICK)
    return out


class _GcClock:
    """CPU time inside the garbage collector, per generation, while `counting`."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._start
            self.runs[info["generation"]] += 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        gc.callbacks.append(self)
        try:
            yield
        finally:
            gc.callbacks.remove(self)


async def end_to_end(shape: tuple[int, int, int]) -> None:
    n = shape[0] * shape[1] * shape[2]
    before: dict[int, tuple[str, float]] = {}
    after: dict[int, tuple[str, float]] = {}
    clock = _GcClock()
    spawn = loadgen.spawn

    async def measured_spawn(*args: Any, **kw: Any) -> dict[str, float]:
        before.update(_threads())  # from the first publish's start, as _measure's CPU
        with clock.counting():
            result = await spawn(*args, **kw)
        after.update(_threads())  # to the last ack, before the loop and its threads stop
        return result

    with tempfile.TemporaryDirectory(prefix="pes-bench-prof-") as tmp:
        async with LocalBroker() as broker, open_store(f"sqlite:///{tmp}/p.db") as store:
            loadgen.spawn = measured_spawn  # _measure calls it through the module
            try:
                eps, cpu_eps = await _measure(store, broker.port, shape)
            finally:
                loadgen.spawn = spawn
    print(f"{n:,} events: {eps:,.0f} events/s, {cpu_eps:,.0f} events per collector CPU-s")
    for tid, (name, seconds) in sorted(after.items()):
        used = seconds - before.get(tid, (name, 0.0))[1]
        if used > 0:
            print(f"  thread {name:40s} {used:6.2f} s CPU  {used / n * 1e6:5.2f} us/event")
    total = sum(clock.seconds)
    print(f"  of which in the garbage collector: {total:.3f} s ({total / n * 1e6:.2f} us/event); "
          f"collections per generation {clock.runs}, "
          f"seconds {[round(s, 3) for s in clock.seconds]}")  # fmt: skip


async def stages(shape: tuple[int, int, int], rounds: int = 3) -> None:
    msgs = [
        (events_topic(f"bench-{d:05d}"), payload, ctype)
        for d in range(shape[0])
        for payload, ctype in loadgen.make_batches(f"bench-{d:05d}", shape[1], shape[2])
    ]
    n = len(msgs) * shape[2]
    tz = ZoneInfo("UTC")
    best = {"parse": 1e9, "write main": 1e9, "write driver": 1e9}
    for _ in range(rounds):
        received = int(time.time() * 1000)
        t0 = time.thread_time()
        units = [parse_batch(t, p, c, received, tz) for t, p, c in msgs]
        best["parse"] = min(best["parse"], time.thread_time() - t0)
        with tempfile.TemporaryDirectory(prefix="pes-bench-prof-") as tmp:
            async with open_store(f"sqlite:///{tmp}/s.db") as store:
                me = threading.get_native_id()
                driver0 = _threads()  # the store's connections (their threads) are open
                t0 = time.thread_time()
                for i in range(0, len(units), 100):
                    await store.write(units[i : i + 100], received)
                best["write main"] = min(best["write main"], time.thread_time() - t0)
                driver = sum(
                    s - driver0.get(tid, (name, 0.0))[1]
                    for tid, (name, s) in _threads().items()
                    if tid != me
                )
                best["write driver"] = min(best["write driver"], driver)
    print("stages alone (best of 3, CPU):")
    for stage, seconds in best.items():
        print(f"  {stage:14s} {seconds / n * 1e6:5.2f} us/event")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", type=int, nargs=3, default=[100, 4, 500])
    p.add_argument("--stages", action="store_true")
    a = p.parse_args()
    shape = (a.shape[0], a.shape[1], a.shape[2])
    try:  # the ingest loop's GC policy, where the checkout has it (gcpolicy.py)
        from collector.ingest.gcpolicy import ingest_gc
    except ImportError:
        ingest_gc = contextlib.nullcontext  # type: ignore[assignment]  # an older checkout
    asyncio.run(end_to_end(shape))
    if a.stages:
        with ingest_gc():  # as inside the loop
            asyncio.run(stages(shape))


if __name__ == "__main__":
    main()
