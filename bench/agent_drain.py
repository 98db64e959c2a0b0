"""agent_drain_eps: a backlog written while the broker is down, drained by a real `pes-agent run`
into a real `pes-collector serve` once the broker is back, against the collector's own rate for
the same events from a raw publisher (bench/agent.py's docstring says how to read it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from agent.batch import build_batch, events_budget
from agent.buffer import Buffer
from agent.events import Factory, check_python, to_body
from agent.settings import AgentSettings
from bench.agent_kit import (
    TARGET_DRAIN_RATIO,
    TARGET_RSS,
    _rss_mb,
    _say,
    _settings,
    _start_agent,
    _stop,
    _toml,
    _wait_socket,
)
from bench.core import Figure
from devkit.broker import LocalBroker, free_port
from shared import codec
from shared.models import Ack
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import ack_topic, events_topic, status_topic


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


def _broker_connected(http: int) -> bool:
    """The collector's /readyz says it is connected to the broker (it subscribes as it does)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=5) as r:
            body = r.read()
    except urllib.error.HTTPError as exc:  # 503 while not ready: the body still says why
        body = exc.read()
    return bool(json.loads(body).get("broker") == "connected")


async def _collector_back(http: int, timeout: float) -> float:
    """time.time() of the last answer before the collector was seen connected (polled every
    20 ms): it connected after that, so the agent's drain is never timed from later than it."""
    deadline = time.monotonic() + timeout
    before = time.time()
    while True:
        with contextlib.suppress(OSError):
            if await asyncio.to_thread(_broker_connected, http):
                return before
            before = time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"collector not connected to the broker in {timeout} s")
        await asyncio.sleep(0.02)


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
    loading the collector: the broker copies the acks to this subscriber too. The agent may
    reconnect, drain a small backlog and hear its acks before this subscriber is back on the
    restarted broker, so `done` is also set once the agent's buffer is empty: the agent deletes
    an event only when its ack arrives, so that is the same moment, seen from the buffer."""

    def __init__(self, port: int, device: str, n: int, buffer: Path) -> None:
        self.mqtt = MqttClient(MqttSettings(port=port), client_id=f"{device}-ackwatch")
        self.mqtt.subscribe(ack_topic(device))
        self._status = status_topic(device)
        self.mqtt.subscribe(self._status)
        self.seen = bytearray(n + 1)
        self.count = 0
        self.done = asyncio.Event()
        self.done_at = 0.0  # time.time() when done was set
        # time.time() of the agent's first "online" status: it publishes one as it connects
        # (retained, so this subscriber gets it even if it subscribed later).
        self.online_at: float | None = None
        self._buffer = buffer
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> AckWatch:
        await self.mqtt.__aenter__()
        await self.mqtt.wait_connected(30)
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._empty())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await self.mqtt.__aexit__(None, None, None)

    async def _watch(self) -> None:
        n = len(self.seen) - 1
        while True:
            msg = await self.mqtt.messages.get()
            if msg.topic == self._status:
                status = codec.decode(msg.payload, msg.content_type)
                if self.online_at is None and status.get("state") == "online":
                    self.online_at = int(status["sent_ms"]) / 1000
                continue
            ack = Ack.model_validate(codec.decode(msg.payload))
            for seq in range(ack.first_seq, min(ack.last_seq, n) + 1):
                if not self.seen[seq]:
                    self.seen[seq] = 1
                    self.count += 1
            if self.count >= n:
                self._finish()

    def _finish(self) -> None:
        if not self.done.is_set():
            self.done_at = time.time()
            self.done.set()

    async def _empty(self) -> None:
        while True:  # another process's file: nothing to wait on but the file itself
            if not await asyncio.to_thread(_buffered, self._buffer):
                self._finish()
                return
            await asyncio.sleep(0.05)


def _buffered(path: Path) -> bool:
    """Whether an agent's buffer still holds events (read-only, beside the running agent: WAL).
    Not count(*): that walks the whole table, ~0.1 s of CPU at 1,000,000 events, taken every
    50 ms from the cores the agent and the collector share, and its read snapshot held back
    the agent's checkpoints (only during the agent's drain, not the raw baseline's)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        return bool(db.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()[0])


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
            t0 = time.time()
            back = asyncio.create_task(_collector_back(http, 60))
            try:
                async with AckWatch(broker.port, s.device_id, n, s.buffer_path) as watch:
                    await asyncio.wait_for(watch.done.wait(), 1800)
                collector_at = await back
            finally:
                back.cancel()
            rss_after = _rss_mb(proc.pid)
            if watch.online_at is None:
                raise RuntimeError("the agent drained without publishing its online status")
            agent_at = watch.online_at
        finally:
            _stop(proc)
        # Both reconnect after the broker's restart, each on its own jittered backoff; the
        # agent can deliver only once both are back. From then on it is timed like the raw
        # publisher, which is timed from its own connection to a collector long connected.
        reconnect = max(0.0, agent_at - t0)
        collector_s = max(0.0, collector_at - t0)
        total = watch.done_at - t0
        drain = n / (watch.done_at - max(t0, agent_at, collector_at))
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
    when = f"agent back after {reconnect:.2f} s, collector after {collector_s:.2f} s"
    return [
        Figure(
            "agent_drain_eps",
            drain,
            f"events/s ({label} backlog)",
            "",
            base,
            "agent and collector both reconnected -> every event acked by pes-collector serve "
            "(SQLite); baseline: the collector's rate from a raw publisher, from its connection",
        ),
        Figure("agent_drain_s", total, f"s ({label} backlog)", note=f"from the restart; {when}"),
        Figure("agent_reconnect_s", reconnect, "s", note="broker back -> agent's online status"),
        Figure(
            "agent_drain_vs_collector",
            drain / base,
            "x",
            TARGET_DRAIN_RATIO,
            note="agent_drain_eps / the collector's raw rate, same run, both from connected",
        ),
        Figure("agent_rss_mb_after_drain", rss_after, "MB", TARGET_RSS),
    ]
