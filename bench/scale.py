"""Scale-out figures for docs/scaling.md: collectors, PostgreSQL, the broker, storage.

This machine has 2 cores and is shared, so wall-clock rates say little about a bigger box. Each
run therefore also measures CPU time per component (/proc/PID/stat) and reports work per
CPU-second, which is what extrapolates:

- scale_<shape>_<n>c_*: n = 1, 2, 3 `pes-collector serve` processes (real processes, as
  deployed) on one fresh PostgreSQL database behind one shared subscription; the load generator
  (bench/loadgen.py, its own process) publishes agents' batches through a private Mosquitto,
  4 in flight per device, and waits for every ack. Shapes: `bulk` = 500 events a batch (a
  backlog draining), `single` = 1 event a batch (a live fleet at 200 events a day sends almost
  every event alone). Reported: events/s and messages/s (wall), and per CPU-second of the
  collectors, of PostgreSQL (the backends serving this database; the shared WAL writer and
  checkpointer are not counted) and of Mosquitto (one message = a batch in and its ack out).
- status_*: retained agent statuses (`pes/v1/dev/<id>/status`), one per device, published by
  one client, taken by the collectors through the shared subscription (each status written by
  one collector); the figure is statuses per collector CPU-second until all are stored.
- db_*_bytes: on-disk bytes per row (table, TOAST and indexes) of every table, after 1,000
  gateways' day of 200 events each (quick: 200) went through the collector's parse and write
  path; db_bytes_per_event: all tables together per raw event.
- broker_*: a private Mosquitto's resident memory per idle device connection (CONNECT with a
  retained last will, SUBSCRIBE to its ack topic, a retained status, as the agent does), plain
  and TLS, and the broker CPU time per connection set up; broker_agents_kib_per_conn: the
  same with real idle `Agent`s (400, quick: 200), which checks the emulation.
- retention_*: dropping a day partition against DELETE of as many rows (bench/scale_retention.py).
- stats_pg_ms, fleet_pg_ms: /v1/stats' and /v1/fleet's store calls on 10 M raw events, against
  the count(*) they replaced (bench/scale_stats.py).

Before/after on the same machine at the same time: PES_BENCH_COLLECTOR_TREE=<a checkout> runs
that tree's collector processes (started in it, so its collector/ and shared/ load), e.g.
`git archive main | tar -x -C /tmp/main && PES_BENCH_COLLECTOR_TREE=/tmp/main python -m bench
scale`; PES_BENCH_SCALE_PARTS=single,status (of bulk, single, status, retention, rows,
broker, stats) runs a subset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.core import Figure, Size
from bench.scale_broker import broker_connections, broker_real_agents
from bench.scale_kit import cpu_s, pg_backend_cpu, pg_database, say, status_kb, status_payload
from bench.scale_retention import retention_figures
from bench.scale_rows import row_sizes
from bench.scale_stats import stats_figures
from devkit.broker import LocalBroker, free_port
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import status_topic

ALL_PARTS = "bulk,single,status,retention,rows,broker,stats"


# -- collectors as processes --------------------------------------------------------------
@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    http: int

    async def ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"collector exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.http}/readyz")).is_success:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError("collector not ready")

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"http://127.0.0.1:{self.http}/v1/stats")
            r.raise_for_status()
            return dict(r.json())


def _spawn(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    # `-m` puts the working directory first on sys.path, ahead of the editable install.
    tree = os.environ.get("PES_BENCH_COLLECTOR_TREE") or None
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(conf)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tree,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def collectors(n: int, broker_port: int, dsn: str, tmp: Path) -> AsyncIterator[list[Any]]:
    procs: list[Collector] = []
    try:
        for i in range(n):
            http = free_port()
            conf = tmp / f"collector-{i}.toml"
            conf.write_text(
                f'[storage]\nurl = "{dsn}"\n'
                f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\n'
                f'[api]\nhost = "127.0.0.1"\nport = {http}\n'
                f'[ingest]\nclient_id = "bench-collector-{i}"\n'
            )
            procs.append(Collector(_spawn(conf, tmp / f"collector-{i}.log"), http))
        await asyncio.gather(*(c.ready() for c in procs))
        await asyncio.sleep(1.0)  # subscriptions go out right after CONNACK
        yield procs
    finally:
        for c in procs:
            c.proc.terminate()
        for c in procs:
            try:
                await asyncio.to_thread(c.proc.wait, 30)
            except subprocess.TimeoutExpired:
                c.proc.kill()


_LOADGEN = (
    "import asyncio, json, resource, sys\n"
    "from bench import loadgen\n"
    "asyncio.run(loadgen.main(*map(int, sys.argv[1:6])))\n"
    "r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(json.dumps({'cpu': r.ru_utime + r.ru_stime}))\n"
)


async def loadgen(port: int, devices: int, batches: int, size: int) -> tuple[dict[str, Any], float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LOADGEN, str(port), str(devices), str(batches), str(size), "4",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 1800)
    lines = out.decode().strip().splitlines()
    return json.loads(lines[-2]), float(json.loads(lines[-1])["cpu"])


@dataclass(frozen=True)
class Run:
    shape: str
    collectors: int
    events: int
    messages: int
    seconds: float
    collector_cpu: float
    pg_cpu: float
    broker_cpu: float
    loadgen_cpu: float
    stored_each: list[int]
    collector_peak_rss_mb: float


async def ingest_run(
    shape: str, n: int, dims: tuple[int, int, int], broker: LocalBroker, tmp: Path
) -> Run:
    devices, batches, size = dims
    assert broker.proc is not None
    async with pg_database() as dsn, collectors(n, broker.port, dsn, tmp) as cs:
        c0 = {c.proc.pid: cpu_s(c.proc.pid) for c in cs}
        p0 = await pg_backend_cpu(dsn)
        b0 = cpu_s(broker.proc.pid)
        result, gen_cpu = await loadgen(broker.port, devices, batches, size)
        c1 = {pid: cpu_s(pid) for pid in c0}
        p1 = await pg_backend_cpu(dsn)
        b1 = cpu_s(broker.proc.pid)
        stats = [await c.stats() for c in cs]
        rss = max(status_kb(c.proc.pid, "VmHWM") for c in cs) / 1024
    stored = [s["ingest"]["stored"] for s in stats]
    assert sum(stored) == result["events"], f"lost or duplicated: {stored} vs {result}"
    return Run(
        shape, n, result["events"], devices * batches, result["seconds"],
        sum(c1[p] - c0[p] for p in c0), sum(v - p0.get(pid, 0.0) for pid, v in p1.items()),
        b1 - b0, gen_cpu, stored, rss,
    )  # fmt: skip


def run_figures(r: Run) -> list[Figure]:
    tag = f"scale_{r.shape}_{r.collectors}c"
    split = "/".join(f"{s:,}" for s in r.stored_each)
    return [
        Figure(f"{tag}_eps", r.events / r.seconds, "events/s",
               note=f"{r.events:,} events in {r.messages:,} batches; stored {split}"),
        Figure(f"{tag}_msgs", r.messages / r.seconds, "batches/s"),
        Figure(f"{tag}_collector_ev_per_cpu_s", r.events / r.collector_cpu, "events/CPU-s",
               note=f"{r.collector_cpu:.1f} CPU-s in {r.collectors} process(es); "
                    f"peak RSS {r.collector_peak_rss_mb:.0f} MB"),
        Figure(f"{tag}_collector_msg_per_cpu_s", r.messages / r.collector_cpu, "batches/CPU-s"),
        Figure(f"{tag}_pg_ev_per_cpu_s", r.events / max(r.pg_cpu, 0.01), "events/CPU-s",
               note=f"{r.pg_cpu:.1f} CPU-s, backends of this database"),
        Figure(f"{tag}_broker_msg_per_cpu_s", r.messages / max(r.broker_cpu, 0.01),
               "batches/CPU-s",
               note=f"{r.broker_cpu:.1f} CPU-s; loadgen {r.loadgen_cpu:.1f} CPU-s"),
    ]  # fmt: skip


async def status_run(n_collectors: int, statuses: int, broker: LocalBroker, tmp: Path) -> Figure:
    assert broker.proc is not None
    async with pg_database() as dsn, collectors(n_collectors, broker.port, dsn, tmp) as cs:
        c0 = {c.proc.pid: cpu_s(c.proc.pid) for c in cs}
        t0 = time.perf_counter()
        async with MqttClient(MqttSettings(port=broker.port), client_id="bench-status") as m:
            await m.wait_connected(10)
            prefix = secrets.token_hex(3)
            for k in range(0, statuses, 500):
                await asyncio.gather(*(
                    m.publish(status_topic(f"st-{prefix}-{i}"), status_payload(f"st-{prefix}-{i}"),
                              retain=True, content_type="application/json", timeout=120)
                    for i in range(k, min(statuses, k + 500))
                ))  # fmt: skip
        # The shared subscription gives each status to one collector; wait until all are stored.
        con = await asyncpg.connect(dsn)
        try:
            while True:
                done = await con.fetchval("SELECT count(*) FROM devices WHERE status IS NOT NULL")
                if done >= statuses:
                    break
                await asyncio.sleep(0.1)
        finally:
            await con.close()
        while True:
            cpu = {pid: cpu_s(pid) for pid in c0}
            await asyncio.sleep(1.0)  # the last collector may still be writing: wait till idle
            if sum(cpu_s(pid) - cpu[pid] for pid in c0) < 0.05 * n_collectors:
                break
        seconds = time.perf_counter() - t0 - 1.0
        used = sum(cpu[p] - c0[p] for p in c0)
    return Figure(
        f"status_{n_collectors}c_per_cpu_s", statuses / used, "statuses/CPU-s",
        note=f"{statuses:,} retained statuses, {n_collectors} collector(s), {seconds:.1f} s "
             f"wall ({statuses / seconds:,.0f}/s); {used:.1f} collector CPU-s",
    )  # fmt: skip


# -- suite --------------------------------------------------------------------------------
async def run(size: Size) -> list[Figure]:
    shapes: Sequence[tuple[str, tuple[int, int, int]]] = size.pick(
        [("bulk", (100, 8, 500)), ("single", (2000, 10, 1))],
        [("bulk", (50, 4, 500)), ("single", (1000, 6, 1))],
        [("bulk", (5, 1, 100)), ("single", (20, 2, 1))],
    )
    parts = set(os.environ.get("PES_BENCH_SCALE_PARTS", ALL_PARTS).split(","))
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="pes-bench-scale-") as d:
        tmp = Path(d)
        async with LocalBroker() as broker:
            for shape, dims in shapes:
                for n in size.pick((1, 2, 3), (1, 2, 3), (1,)) if shape in parts else ():
                    say(f"{shape}: {n} collector(s)")
                    figures += run_figures(await ingest_run(shape, n, dims, broker, tmp))
            for n in size.pick((1, 3), (1, 3), (1,)) if "status" in parts else ():
                say(f"status: {n} collector(s)")
                figures.append(await status_run(n, size.pick(20000, 5000, 200), broker, tmp))
    if "retention" in parts:
        say("retention: drop a day partition vs DELETE")
        async with pg_database() as dsn:
            figures += await retention_figures(dsn, size.pick(1_000_000, 200_000, 5_000))
    if "stats" in parts:
        say("stats: /v1/stats and /v1/fleet on a large store")
        async with pg_database() as dsn:
            figures += await stats_figures(dsn, size.pick(10_000_000, 2_000_000, 10_000))
    if "rows" in parts:
        say("row sizes")
        figures += await row_sizes(size.pick(1000, 200, 20))
    if "broker" in parts:
        for tls, count in ((False, size.pick(10_000, 2000, 20)), (True, size.pick(2000, 500, 10))):
            say(f"broker: {count} idle {'TLS' if tls else 'plain'} connections")
            figures += await broker_connections(count, tls)
        agents = size.pick(400, 200, 3)
        say(f"broker: {agents} idle agents")
        with tempfile.TemporaryDirectory(prefix="pes-bench-agents-") as d:
            figures.append(await broker_real_agents(agents, Path(d)))
    return figures
