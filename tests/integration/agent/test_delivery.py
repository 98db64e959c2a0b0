"""The agent against a real Mosquitto and a fake collector: nothing lost, buffers drain only
after acks, unacked batches are resent after the timeout or after a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from agent.agent import Agent
from agent.buffer import Buffer
from devkit.broker import LocalBroker
from shared import codec
from shared.models import AgentStatus
from shared.mqtt import MqttClient
from shared.topics import status_topic
from tests.kits.agent import FakeCollector, agent_settings, fast_mqtt

pytestmark = pytest.mark.timeout(60)


async def test_three_agents_deliver_everything_and_drain(
    broker: LocalBroker, tmp_path: Path
) -> None:
    n = 200
    async with contextlib.AsyncExitStack() as stack:
        collector = await stack.enter_async_context(FakeCollector(broker.port))
        agents = [
            await stack.enter_async_context(
                Agent(agent_settings(tmp_path, broker.port, f"dev-{i}", batch_max_events=64))
            )
            for i in range(3)
        ]
        ids = await asyncio.gather(
            *(
                a.record("feature_use", f"f{k % 5}", session_id=f"s{k % 3}", props={"k": k})
                for a in agents
                for k in range(n)
            )
        )
        assert len(set(ids)) == 3 * n
        assert all(await asyncio.gather(*(a.flush(20) for a in agents)))
        for i, a in enumerate(agents):
            got = collector.events[f"dev-{i}"]
            assert set(got) == set(ids[i * n : (i + 1) * n])
            assert sorted(got.values()) == list(range(1, n + 1))  # a gapless stream
            stats = a.stats()
            assert stats.recorded == n and stats.commits < n  # group commit happened
            assert stats.publisher.events_acked == n and stats.inflight == 0
    for i in range(3):  # and the files say so after closing
        with Buffer(tmp_path / f"dev-{i}.db") as buf:
            assert buf.depth() == 0 and buf.anchors()


async def test_unacked_batch_is_resent_after_ack_timeout(
    broker: LocalBroker, tmp_path: Path
) -> None:
    s = agent_settings(tmp_path, broker.port, "dev-r", ack_timeout_s=1.0)
    async with FakeCollector(broker.port, ignore_first=True) as collector, Agent(s) as agent:
        ids = await asyncio.gather(*(agent.record("session_start") for _ in range(20)))
        t0 = time.monotonic()
        await asyncio.wait_for(collector.withheld.wait(), 10)
        await asyncio.sleep(0.3)
        with Buffer(s.buffer_path) as buf:
            assert buf.depth() == 20  # delivered, not acked: still buffered
        assert await agent.flush(10)
        assert time.monotonic() - t0 >= 0.9  # only the resend after ack_timeout got acked
        assert set(collector.events["dev-r"]) == set(ids)
        assert max(collector.deliveries.values()) >= 2
        assert agent.stats().publisher.batches_resent >= 1


async def test_reconnect_resends_everything_in_flight(tmp_path: Path) -> None:
    broker = LocalBroker()
    await asyncio.to_thread(broker.start)
    try:
        # A long ack timeout: only the reconnect can explain a quick resend.
        s = agent_settings(tmp_path, broker.port, "dev-c", ack_timeout_s=60)
        async with FakeCollector(broker.port, acking=False) as collector, Agent(s) as agent:
            ids = await asyncio.gather(*(agent.record("session_start") for _ in range(30)))
            await asyncio.wait_for(collector.withheld.wait(), 10)
            await asyncio.to_thread(broker.stop, kill=True)  # no persistence: all state gone
            await asyncio.to_thread(broker.start)
            collector.acking = True
            assert await agent.flush(15)
            assert set(collector.events["dev-c"]) == set(ids)
    finally:
        await asyncio.to_thread(broker.cleanup)


async def test_status_is_retained_online_then_offline(broker: LocalBroker, tmp_path: Path) -> None:
    s = agent_settings(tmp_path, broker.port, "dev-s")

    async def retained_status() -> AgentStatus | None:
        """What a newcomer is told on subscribing (live publishes are skipped)."""
        reader = MqttClient(fast_mqtt(broker.port), client_id="status-reader")
        reader.subscribe(status_topic("dev-s"))
        async with reader:
            with contextlib.suppress(TimeoutError):
                while True:
                    msg = await asyncio.wait_for(reader.messages.get(), 1.0)
                    if msg.retain:
                        return AgentStatus.model_validate(codec.decode(msg.payload))
        return None

    async with Agent(s) as agent:
        await agent.record("session_start")
        deadline = time.monotonic() + 10
        while (status := await retained_status()) is None or status.state != "online":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    status = await retained_status()
    assert status is not None and status.state == "offline"


async def test_no_collector_listening_means_resend_soon(
    broker: LocalBroker, tmp_path: Path
) -> None:
    # Mosquitto's PUBACK says "no matching subscribers" while no collector is subscribed (a
    # broker restarted before the collectors came back): the agent sends again within
    # seconds instead of waiting out a long ack timeout.
    s = agent_settings(tmp_path, broker.port, "dev-n", ack_timeout_s=120)
    async with Agent(s) as agent:
        ids = await asyncio.gather(*(agent.record("session_start") for _ in range(10)))
        deadline = time.monotonic() + 30
        while agent.stats().publisher.no_subscribers == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        async with FakeCollector(broker.port) as collector:
            assert await agent.flush(60)  # far less than the 120 s ack timeout
            assert set(collector.events["dev-n"]) == set(ids)
