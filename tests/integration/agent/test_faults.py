"""Fault injection against the real thing: `pes-agent run` processes fed through their Unix
socket, a real Mosquitto, `pes-collector serve` with SQLite. Every id the agent answered "ok"
for is stored at the collector exactly once; a broker that dies and comes back loses nothing;
a small buffer under a long outage stays within its limit on disk and the collector ends up
reporting exactly the ranges the agent dropped."""

from __future__ import annotations

import asyncio
import collections
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agent.agent import Agent
from agent.buffer import Buffer
from devkit.broker import LocalBroker
from tests.kits.agent import agent_settings
from tests.kits.real_agent import (
    Collector,
    agent_config,
    feed,
    kill9,
    start_agent,
    stored_ids,
    until,
    wait_socket,
)

pytestmark = pytest.mark.timeout(300)


def assert_exactly_once(collector: Collector, acked: set[str], device_id: str) -> list[str]:
    ids = stored_ids(collector.db)
    dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert not dupes, f"stored twice: {dupes[:5]}"
    missing = acked - set(ids)
    assert not missing, f"{len(missing)} acknowledged events never stored, e.g. {list(missing)[:3]}"
    assert collector.stats()["events"] == len(ids)
    dev = collector.device(device_id)
    assert (dev["gap_events"], dev["dropped_events"]) == (0, 0)
    return ids


async def kill_during_intake(tmp_path: Path, broker: LocalBroker, rounds: int) -> None:
    collector = Collector(tmp_path, broker.port)
    await collector.start()
    # Room for everything even if the collector falls behind: this test is about kill -9, and
    # an overflow would drop (and honestly report) acknowledged events.
    conf = agent_config(tmp_path, broker.port, max_buffer_mb=1024)
    sock = tmp_path / "gw-real.sock"
    log = tmp_path / "agent.log"
    rng = random.Random(42)
    acked: set[str] = set()
    try:
        for _ in range(rounds):
            proc = start_agent(conf, log)
            try:
                await wait_socket(sock, proc)
                feeders = [asyncio.create_task(feed(sock, acked)) for _ in range(4)]
                await asyncio.sleep(rng.uniform(0.2, 0.8))  # heavy intake, sending meanwhile
                kill9(proc)
                await asyncio.gather(*feeders)
            finally:
                if proc.poll() is None:
                    kill9(proc)
        assert len(acked) > 1000 * rounds  # it really was heavy intake
        proc = start_agent(conf, log)  # a last, undisturbed run sends what is left
        try:
            await wait_socket(sock, proc)
            db = tmp_path / "gw-real.db"

            def drained() -> bool:  # empty: everything acked, i.e. committed by the collector
                with Buffer(db) as buf:
                    return buf.depth() == 0

            await until(drained, 60 * rounds, "agent buffer empty")
            proc.send_signal(15)
            assert await asyncio.to_thread(proc.wait, 30) == 0
        finally:
            if proc.poll() is None:
                kill9(proc)
        with Buffer(tmp_path / "gw-real.db") as buf:
            assert "dropped_total" not in buf.meta()
        assert_exactly_once(collector, acked, "gw-real")
    finally:
        collector.stop()
    assert "Traceback" not in log.read_text()


async def test_kill_9_during_heavy_intake_ten_times(tmp_path: Path, broker: LocalBroker) -> None:
    await kill_during_intake(tmp_path, broker, rounds=10)


@pytest.mark.slow
async def test_kill_9_during_heavy_intake_forty_times(tmp_path: Path, broker: LocalBroker) -> None:
    await kill_during_intake(tmp_path, broker, rounds=40)


async def broker_outage(tmp_path: Path, down_s: float) -> None:
    broker = LocalBroker()
    await asyncio.to_thread(broker.start)
    collector = Collector(tmp_path, broker.port)
    try:
        await collector.start()
        s = agent_settings(tmp_path, broker.port, "gw-out", ack_timeout_s=3.0, auto_sessions=False)
        ids: list[str] = []
        async with Agent(s) as agent:
            stop = asyncio.Event()

            async def keep_recording() -> None:
                k = 0
                while not stop.is_set():
                    ids.append(await agent.record("feature_use", f"f{k % 7}", session_id="s"))
                    k += 1
                    if k % 50 == 0:
                        await asyncio.sleep(0.01)

            recorder = asyncio.create_task(keep_recording())
            await asyncio.sleep(1.0)
            await asyncio.to_thread(broker.stop, kill=True)  # no persistence: all state gone
            await asyncio.sleep(down_s)
            during = len(ids)
            await asyncio.to_thread(broker.start)  # same port
            await asyncio.sleep(1.0)
            stop.set()
            await recorder
            assert len(ids) > during > 0
            assert await agent.flush(120), "agent did not drain after the broker came back"
        assert_exactly_once(collector, set(ids), "gw-out")
        assert len(stored_ids(collector.db)) == len(ids)
    finally:
        collector.stop()
        await asyncio.to_thread(broker.cleanup)


async def test_broker_down_and_back_loses_nothing(tmp_path: Path) -> None:
    await broker_outage(tmp_path, down_s=3.0)


@pytest.mark.slow
async def test_broker_down_for_a_minute(tmp_path: Path) -> None:
    await broker_outage(tmp_path, down_s=60.0)


async def small_buffer_long_outage(tmp_path: Path, broker: LocalBroker, events: int) -> None:
    limit_mb = 2
    conf = agent_config(tmp_path, broker.port, "gw-small", max_buffer_mb=limit_mb)
    sock, db = tmp_path / "gw-small.sock", tmp_path / "gw-small.db"
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    proc = start_agent(conf, tmp_path / "agent.log")  # the collector is not running yet
    sizes: list[int] = []
    sampling = True

    async def sample() -> None:
        while sampling:
            sizes.append(sum(p.stat().st_size for p in files if p.exists()))
            await asyncio.sleep(0.02)

    collector = Collector(tmp_path, broker.port)
    try:
        await wait_socket(sock, proc)
        sampler = asyncio.create_task(sample())
        acked: set[str] = set()
        per_client = events // 4
        answered = await asyncio.gather(*(feed(sock, acked, lines=per_client) for _ in range(4)))
        assert sum(answered) == len(acked) == 4 * per_client  # drop_oldest: all accepted
        sampling = False
        await sampler
        assert max(sizes) <= limit_mb * 1024 * 1024, f"{max(sizes)} bytes on disk"
        cmd = [sys.executable, "-m", "agent.cli", "status", "--config", str(conf)]
        out = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        dropped = status["dropped"]
        assert status["running"] and dropped > 0
        assert status["buffer_depth"] + dropped == len(acked) == status["last_seq"]
        assert status["pending_drop_ranges"] == [[1, dropped, "overflow"]]
        await collector.start()
        await until(lambda: collector.stats()["events"] >= len(acked) - dropped, 120, "drain")

        def settled() -> bool:
            dev = collector.device("gw-small")
            return bool(dev["dropped_events"] == dropped)

        await until(settled, 60, "drops reported")
        dev = collector.device("gw-small")
        assert (dev["dropped_events"], dev["gap_events"]) == (dropped, 0)
        ids = stored_ids(collector.db)
        assert len(ids) == len(set(ids)) == len(acked) - dropped
        assert set(ids) <= acked
        proc.send_signal(15)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        assert sum(p.stat().st_size for p in files if p.exists()) <= limit_mb * 1024 * 1024
    finally:
        if proc.poll() is None:
            kill9(proc)
        collector.stop()


async def test_small_buffer_long_outage_stays_within_its_limit(
    tmp_path: Path, broker: LocalBroker
) -> None:
    await small_buffer_long_outage(tmp_path, broker, events=30_000)


@pytest.mark.slow
async def test_small_buffer_very_long_outage(tmp_path: Path, broker: LocalBroker) -> None:
    await small_buffer_long_outage(tmp_path, broker, events=400_000)
