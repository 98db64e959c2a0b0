"""The agent on this machine: intake rate, memory, idle CPU, backlog drain.

- agent_record_eps: events/s through the Python API (Agent.record from 64 concurrent tasks, in
  this process, broker unreachable so only intake runs). Baseline: the naive way, one
  transaction (one fsync) per event, same buffer settings.
- agent_socket_eps: events/s through the local socket of a real `pes-agent run` process, four
  pipelining clients in this process (broker unreachable). Baseline: one client that waits for
  each reply before sending the next line.
- agent_rss_mb / agent_rss_mb_idle: resident memory (/proc/PID/status VmRSS) of `pes-agent
  run`: the peak while the socket figure ran, and connected and idle.
- agent_idle_cpu_pct: CPU time of an idle, connected `pes-agent run` over 10 s (quick: 5 s).
- agent_drain_eps: a backlog of 1,000,000 events (quick: 50,000) written to the buffer while
  the broker is down; the broker comes back, the agent and the collector reconnect (each within
  reconnect_max_s = 1 s here, jittered), and the figure is events/s from the moment both are
  connected until `pes-collector serve` (SQLite, its own process) has acked them all (it acks
  after its commit; this bench counts the acks as a second subscriber, so it does not load the
  collector). Baseline: the collector's own ingest rate for the same events, published as
  prebuilt batches with 64 in flight (no agent in the way), timed from that publisher's
  connection, on at most 200,000 of them (a rate; the full run's time budget).
  agent_drain_vs_collector is their ratio: like for like, both from connected.
- agent_reconnect_s: the broker's restart -> the agent's online status (it publishes one as it
  connects); agent_drain_s: the broker's restart -> the last ack, what a user waits, with both
  reconnects in its note (the reconnects are real, so they are reported, not hidden).

`pes-agent run` runs with MALLOC_ARENA_MAX=2, as the systemd unit starts it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from agent.agent import Agent
from agent.buffer import Buffer
from agent.events import Factory, check_python, to_body
from bench.agent_drain import drain_figures
from bench.agent_kit import (
    TARGET_MANY,
    TARGET_RECORD,
    TARGET_RSS,
    TARGET_RSS_IDLE,
    TARGET_SOCKET,
    _cpu_s,
    _rss_mb,
    _say,
    _settings,
    _start_agent,
    _stop,
    _toml,
    _wait_socket,
)
from bench.core import Figure, Size
from devkit.broker import LocalBroker, free_port

# the required figures (bench.core.REQUIRED) this suite always reports
PRODUCES = ("agent_record_eps", "agent_rss_mb", "agent_idle_cpu_pct", "agent_drain_eps")
LINE = b'{"kind":"feature_use","feature":"calibrate","user_id":"op-7","props":{"job":42}}\n'


# -- intake ------------------------------------------------------------------------------------
async def record_eps(d: Path, n: int) -> list[Figure]:
    logging.getLogger("shared.mqtt").setLevel(logging.ERROR)  # the broker is unreachable
    s = _settings(d, free_port(), "gw-api", max_buffer_mb=512)
    tasks = 256
    async with Agent(s) as agent:
        await agent.record("feature_use", "warmup")
        per_task = n // tasks

        async def worker() -> None:
            for _ in range(per_task):
                await agent.record("feature_use", "calibrate", user_id="op-7", props={"job": 42})

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        eps = per_task * tasks / (time.perf_counter() - t0)
        commits = agent.stats().commits
        event = {"kind": "feature_use", "feature": "calibrate", "user_id": "op-7",
                 "props": {"job": 42}}  # fmt: skip
        t0 = time.perf_counter()
        for _ in range(n // 1000):
            await agent.record_many([event] * 1000)
        many = n // 1000 * 1000 / (time.perf_counter() - t0)
    # The naive way: one transaction (one fsync) per event, same durability.
    naive_n = max(500, n // 50)
    factory = Factory(s)
    with Buffer(d / "naive.db") as buf:
        t0 = time.perf_counter()
        for _ in range(naive_n):
            fields = check_python({"kind": "feature_use", "feature": "calibrate"})
            doc = factory.build(fields)
            buf.append_rows([(doc["id"], to_body(doc))])
        naive = naive_n / (time.perf_counter() - t0)
    note = f"record() from {tasks} tasks, {commits} commits; baseline: 1 transaction per event"
    return [
        Figure("agent_record_eps", eps, "events/s", TARGET_RECORD, naive, note),
        Figure(
            "agent_record_many_eps",
            many,
            "events/s",
            TARGET_MANY,
            naive,
            "record_many() with 1,000 events a call",
        ),
    ]


async def _pipeline(path: Path, n: int, chunk: int = 500) -> int:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 22)
    ok = 0

    async def read() -> None:
        nonlocal ok
        got = 0
        while got < n:
            data = await reader.read(1 << 20)
            if not data:
                raise ConnectionError("agent closed the socket")
            got += data.count(b"\n")
            ok += data.count(b'"ok":true')

    reading = asyncio.create_task(read())
    for sent in range(0, n, chunk):
        writer.write(LINE * min(chunk, n - sent))
        await writer.drain()
    await reading
    writer.close()
    return ok


async def _one_by_one(path: Path, n: int) -> float:
    reader, writer = await asyncio.open_unix_connection(str(path))
    t0 = time.perf_counter()
    for _ in range(n):
        writer.write(LINE)
        await reader.readline()
    writer.close()
    return n / (time.perf_counter() - t0)


async def socket_eps(d: Path, n: int) -> tuple[list[Figure], float]:
    s = _settings(d, free_port(), "gw-sock", max_buffer_mb=512)
    proc = _start_agent(_toml(s, d / "sock.toml"), d / "sock.log")
    peak = 0.0
    try:
        await _wait_socket(s.socket_file)
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, _rss_mb(proc.pid))
                await asyncio.sleep(0.1)

        sampler = asyncio.create_task(sample())
        baseline = await _one_by_one(s.socket_file, max(300, n // 100))
        clients = 4
        t0 = time.perf_counter()
        per_client = n // clients
        oks = await asyncio.gather(*(_pipeline(s.socket_file, per_client) for _ in range(clients)))
        eps = sum(oks) / (time.perf_counter() - t0)
        sampling = False
        await sampler
        if sum(oks) != n // clients * clients:
            raise RuntimeError(f"only {sum(oks)} of {n} lines were stored")
    finally:
        _stop(proc)
    note = f"{clients} pipelining clients; baseline: 1 client, 1 line per round trip"
    return [Figure("agent_socket_eps", eps, "events/s", TARGET_SOCKET, baseline, note)], peak


# -- memory and CPU of an idle, connected agent -------------------------------------------------
async def idle_figures(d: Path, port: int, seconds: float, load_peak: float) -> list[Figure]:
    s = _settings(d, port, "gw-idle")
    proc = _start_agent(_toml(s, d / "idle.toml"), d / "idle.log")
    try:
        await _wait_socket(s.socket_file)
        await asyncio.sleep(3.0)  # connected, status published, settled
        c0, t0 = _cpu_s(proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = 100 * (_cpu_s(proc.pid) - c0) / (time.monotonic() - t0)
        rss = _rss_mb(proc.pid)
    finally:
        _stop(proc)
    return [
        Figure("agent_rss_mb_idle", rss, "MB", TARGET_RSS_IDLE, note="pes-agent run, connected"),
        Figure("agent_rss_mb", load_peak, "MB", TARGET_RSS, note="peak during agent_socket_eps"),
        Figure("agent_idle_cpu_pct", cpu, "% of a core", "< 1", note=f"over {seconds:g} s"),
    ]


async def run(size: Size) -> list[Figure]:
    n_api = size.pick(300_000, 50_000, 2_000)
    n_sock = size.pick(500_000, 100_000, 2_000)
    n_drain, label = size.pick((1_000_000, "1m"), (50_000, "50k"), (2_000, "2k"))
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="pes-bench-agent-") as tmp:
        d = Path(tmp)
        _say(f"record(): {n_api:,} events")
        figures += await record_eps(_mk(d / "api"), n_api)
        _say(f"socket: {n_sock:,} events")
        sock, peak = await socket_eps(_mk(d / "sock"), n_sock)
        figures += sock
        async with LocalBroker() as broker:
            _say("idle agent")
            figures += await idle_figures(_mk(d / "idle"), broker.port, size.pick(10, 5, 1), peak)
        figures += await drain_figures(_mk(d / "drain"), n_drain, label)
    return figures


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
