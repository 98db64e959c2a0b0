"""The retained status is published on a change that matters (here: the firmware version read
again), not on every event, with a slow heartbeat otherwise (real Mosquitto)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.agent import Agent
from devkit import LocalBroker
from shared import codec
from shared.models import AgentStatus
from shared.mqtt import MqttClient
from shared.topics import status_topic
from tests.kits.agent import agent_settings, fast_mqtt

pytestmark = pytest.mark.timeout(60)


async def test_status_on_change_not_per_event(broker: LocalBroker, tmp_path: Path) -> None:
    version = tmp_path / "firmware"
    version.write_text("1.0\n")
    s = agent_settings(tmp_path, broker.port, "dev-st", firmware_file=version,
                       status_min_interval_s=0.2)  # fmt: skip
    assert s.status_interval_s == 600  # the default heartbeat
    seen: list[AgentStatus] = []
    reader = MqttClient(fast_mqtt(broker.port), client_id="status-watch")
    reader.subscribe(status_topic("dev-st"))

    async def watch() -> None:
        while True:
            msg = await reader.messages.get()
            seen.append(AgentStatus.model_validate(codec.decode(msg.payload)))

    def last() -> AgentStatus:  # a call, so that mypy does not carry a narrowed state over awaits
        return seen[-1]

    async def wait_for(n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(seen) < n:
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.05)

    async with reader:
        await reader.wait_connected(10)
        watcher = asyncio.create_task(watch())
        try:
            async with Agent(s) as agent:
                await wait_for(1, 20)  # "online" on connecting
                for _ in range(20):  # events alone change nothing worth a status
                    await agent.record("feature_use", "calibrate")
                    await asyncio.sleep(0.1)
                assert len(seen) == 1 and agent.statuses_published == 1
                version.write_text("2.0\n")
                assert await agent.reload_firmware() == "2.0"
                await wait_for(2, 10)  # the change: published within a poll or two
                assert last().state == "online" and agent.statuses_published == 2
            await wait_for(3, 10)  # and "offline" on the way out
            assert last().state == "offline"
        finally:
            watcher.cancel()
