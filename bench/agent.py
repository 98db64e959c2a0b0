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
- agent_drain_eps: a backlog of 1,000,000 events (quick: 100,000) written to the buffer while
  the broker is down; the broker comes back (agents reconnect within reconnect_max_s = 1 s here)
  and the figure is events/s until `pes-collector serve` (SQLite, its own process) has acked
  them all (it acks after its commit; this bench counts the acks as a second subscriber, so it
  does not load the collector). Baseline: the collector's own ingest rate for the same events,
  published as prebuilt batches with 64 in flight (no agent in the way), on at most 200,000 of
  them (a rate; the full run's time budget).

`pes-agent run` runs with MALLOC_ARENA_MAX=2, as the systemd unit starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from agent.agent import Agent
from agent.batch import build_batch, events_budget
from agent.buffer import Buffer
from agent.events import Factory, check_python, to_body
from agent.settings import AgentSettings
from agent.settings import MqttSettings as AgentMqttSettings
from bench.core import Figure, Size
from devkit.broker import LocalBroker, free_port
from shared import codec
from shared.models import Ack
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import ack_topic, events_topic

# the required figures (bench.core.REQUIRED) this suite always reports
PRODUCES = ("agent_record_eps", "agent_rss_mb", "agent_idle_cpu_pct", "agent_drain_eps")
LINE = b'{"kind":"feature_use","feature":"calibrate","user_id":"op-7","props":{"job":42}}\n'
# Issue 17's targets (issue 9's were 50,000 events/s and 40 MB for all of them).
TARGET_RECORD, TARGET_MANY, TARGET_SOCKET = ">= 100000", ">= 200000", ">= 200000"
TARGET_RSS, TARGET_RSS_IDLE, TARGET_DRAIN_RATIO = "<= 30", "<= 26", ">= 0.8"
AGENT_ENV = {"MALLOC_ARENA_MAX": "2"}  # as deploy/systemd/pes-agent.service sets it


def _say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


def _settings(d: Path, port: int, device: str = "gw-bench", **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": device,
        "device_type": "press-x",
        "firmware_version": "2.1",
        "account_id": "acme",
        "labels": {"site": "plant-3"},
        "buffer_path": d / f"{device}.db",
        "mqtt": AgentMqttSettings(port=port, reconnect_initial_s=0.1, reconnect_max_s=1.0),
    }
    return AgentSettings(**(values | kw))


def _toml(s: AgentSettings, path: Path) -> Path:
    doc = msgspec.to_builtins(s, enc_hook=str)  # Path -> str (no password in these settings)
    doc = {k: v for k, v in doc.items() if v is not None}
    mqtt, labels = doc.pop("mqtt"), doc.pop("labels")
    mqtt = {k: v for k, v in mqtt.items() if v is not None and k != "password"}
    lines = [f"{k} = {json.dumps(v)}" for k, v in doc.items()]
    lines += ["[labels]", *(f"{k} = {json.dumps(v)}" for k, v in labels.items())]
    lines += ["[mqtt]", *(f"{k} = {json.dumps(v)}" for k, v in mqtt.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _proc_status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    raise KeyError(key)


def _rss_mb(pid: int) -> float:
    return _proc_status(pid, "VmRSS") / 1024


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_agent(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(conf)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **AGENT_ENV},
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _wait_socket(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_unix_connection(str(path))
            w.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(path)


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


# -- backlog drain ------------------------------------------------------------------------------
def _collector(d: Path, port: int) -> tuple[subprocess.Popen[bytes], int]:
    http = free_port()
    conf = d / "collector.toml"
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{d}/collector.db"\n'
        f"[mqtt]\nport = {port}\nreconnect_max_s = 1.0\n"
        f'[api]\nhost = "127.0.0.1"\nport = {http}\ntokens = ["bench"]\n'
        f'[ingest]\nclient_id = "bench-collector-{http}"\n'
    )
    with (d / "collector.log").open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(conf)],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    return proc, http


def _stored(http: int) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{http}/v1/stats", headers={"Authorization": "Bearer bench"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return int(json.loads(r.read())["events"])


async def _until_stored(http: int, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if await asyncio.to_thread(_stored, http) >= n:
                return time.perf_counter()
        if time.monotonic() > deadline:
            raise TimeoutError(f"collector did not store {n} events in {timeout} s")
        await asyncio.sleep(0.1)


def _backlog(s: AgentSettings, n: int) -> None:
    factory = Factory(s)
    fields = check_python({"kind": "feature_use", "feature": "calibrate", "user_id": "op-7"})
    with Buffer(s.buffer_path, max_bytes=s.max_buffer_bytes) as buf:
        for lo in range(0, n, 20_000):
            docs = [factory.build(fields) for _ in range(min(20_000, n - lo))]
            buf.append_rows([(doc["id"], to_body(doc)) for doc in docs])


async def _raw_publish(port: int, s: AgentSettings, device: str, expect: int) -> float:
    """The collector's own ingest rate: prebuilt batches of the agent's backlog, 64 in flight."""
    with Buffer(s.buffer_path) as buf:
        rows_all = buf.read_after(0, expect, 1 << 40)
        stream = buf.stream_id
    if len(rows_all) != expect:
        raise RuntimeError(f"backlog holds {len(rows_all)} events, not {expect}")
    budget = events_budget(s.batch_max_bytes, 0, 0)
    batches: list[tuple[bytes, str, int]] = []
    i = 0
    while i < len(rows_all):
        rows: list[Any] = []
        size = 0
        while i < len(rows_all) and len(rows) < s.batch_max_events:
            size += len(rows_all[i][1]) + 24
            if rows and size > budget:
                break
            rows.append(rows_all[i])
            i += 1
        b = build_batch(rows, device_id=device, stream_id=stream, anchors={}, boot="bench",
                        sent_ms=time.time_ns() // 1_000_000, sent_mono=0)  # fmt: skip
        batches.append((b.payload, b.content_type, b.count))
    mqtt = MqttClient(MqttSettings(port=port), client_id=f"{device}-pub")
    mqtt.subscribe(ack_topic(device))
    acked = 0
    async with mqtt:
        await mqtt.wait_connected(30)
        sem = asyncio.Semaphore(64)
        done = asyncio.Event()

        async def acks() -> None:
            nonlocal acked
            while acked < expect:
                msg = await mqtt.messages.get()
                ack = Ack.model_validate(codec.decode(msg.payload))
                acked += ack.last_seq - ack.first_seq + 1
                sem.release()
            done.set()

        reader = asyncio.create_task(acks())
        t0 = time.perf_counter()
        for payload, ctype, _ in batches:
            await sem.acquire()
            await mqtt.publish(events_topic(device), payload, content_type=ctype, timeout=60)
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - t0
        reader.cancel()
    return expect / elapsed


class AckWatch:
    """Counts the seqs a device's acks cover (acks come after the collector's commit), without
    loading the collector: the broker copies the acks to this subscriber too."""

    def __init__(self, port: int, device: str, n: int) -> None:
        self.mqtt = MqttClient(MqttSettings(port=port), client_id=f"{device}-ackwatch")
        self.mqtt.subscribe(ack_topic(device))
        self.seen = bytearray(n + 1)
        self.count = 0
        self.done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AckWatch:
        await self.mqtt.__aenter__()
        await self.mqtt.wait_connected(30)
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.mqtt.__aexit__(None, None, None)

    async def _watch(self) -> None:
        n = len(self.seen) - 1
        while True:
            ack = Ack.model_validate(codec.decode((await self.mqtt.messages.get()).payload))
            for seq in range(ack.first_seq, min(ack.last_seq, n) + 1):
                if not self.seen[seq]:
                    self.seen[seq] = 1
                    self.count += 1
            if self.count >= n:
                self.done.set()


async def drain_figures(d: Path, n: int, label: str, **kw: Any) -> list[Figure]:
    broker = LocalBroker()
    await asyncio.to_thread(broker.start)
    s = _settings(d, broker.port, "gw-drain", max_buffer_mb=max(64, n // 2500), **kw)
    collector, http = _collector(d, broker.port)
    try:
        _say(f"writing a backlog of {n:,} events")
        await asyncio.to_thread(_backlog, s, n)
        await asyncio.to_thread(broker.stop, kill=True)  # the outage
        proc = _start_agent(_toml(s, d / "drain.toml"), d / "drain.log")
        try:
            await _wait_socket(s.socket_file)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(broker.start)  # back, on the same port
            t0 = time.perf_counter()
            async with AckWatch(broker.port, s.device_id, n) as watch:
                await asyncio.wait_for(watch.done.wait(), 1800)
            drain = n / (time.perf_counter() - t0)
            rss_after = _rss_mb(proc.pid)
        finally:
            _stop(proc)
        await _until_stored(http, n, 60)  # and the collector says so
        _say("collector baseline: the same events from a raw publisher")
        copy = _settings(d, broker.port, "gw-raw", buffer_path=s.buffer_path,
                         max_buffer_mb=s.max_buffer_mb)  # fmt: skip
        # A rate, so a fifth of a large backlog is enough (the full run's 10-minute budget).
        nb = min(n, 200_000)
        await asyncio.to_thread(_backlog, copy, nb)  # the drained file is empty: fill it again
        base = await _raw_publish(broker.port, copy, "gw-raw", nb)
    finally:
        _stop(collector)
        await asyncio.to_thread(broker.cleanup)
    note = "broker back -> every event acked by pes-collector serve (SQLite); baseline: collector"
    return [
        Figure("agent_drain_eps", drain, f"events/s ({label} backlog)", "", base, note),
        Figure(
            "agent_drain_s", n / drain, f"s ({label} backlog)", note="from the broker's restart"
        ),
        Figure(
            "agent_drain_vs_collector",
            drain / base,
            "x",
            TARGET_DRAIN_RATIO,
            note="agent_drain_eps / the collector's raw rate, same run",
        ),
        Figure("agent_rss_mb_after_drain", rss_after, "MB", TARGET_RSS),
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
