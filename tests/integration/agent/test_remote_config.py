"""Remote configuration on a real Mosquitto: retained messages for the fleet, the device type
and the device (shared/topics.py) are merged in that order over the local settings for the
run-time-safe keys; a bad message is refused with its reason in the status, the previous
values stay; the applied versions are in the status."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.agent import Agent
from agent.errors import CollectionOff
from devkit import LocalBroker
from shared import codec
from shared.models import AgentStatus
from shared.mqtt import MqttClient
from shared.topics import (
    device_config_topic,
    device_type_config_topic,
    fleet_config_topic,
    status_topic,
)
from tests.kits.agent import agent_settings, fast_mqtt

pytestmark = pytest.mark.timeout(60)
DEVICE, TYPE = "gw-rc", "press x/2+"


async def test_levels_merge_apply_and_refusals_are_reported(
    broker: LocalBroker, tmp_path: Path
) -> None:
    statuses: list[AgentStatus] = []
    admin = MqttClient(fast_mqtt(broker.port), client_id="config-admin")
    admin.subscribe(status_topic(DEVICE))

    async def put(topic: str, doc: object) -> None:
        payload = b"" if doc is None else json.dumps(doc).encode()
        await admin.publish(topic, payload, retain=True, timeout=10)

    async def watch() -> None:
        while True:
            msg = await admin.messages.get()
            if msg.payload:
                statuses.append(AgentStatus.model_validate(codec.decode(msg.payload)))

    async def until(cond: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + 15
        while not cond():
            assert time.monotonic() < deadline, (what, statuses[-1:] if statuses else None)
            await asyncio.sleep(0.05)

    async with admin:
        await admin.wait_connected(10)
        watcher = asyncio.create_task(watch())
        try:
            # Before the agent starts: retained, so it gets them on subscribing.
            await put(
                fleet_config_topic(),
                {
                    "version": 3,
                    "settings": {
                        "status_interval_s": 300,
                        "drain_rate_eps": 5000,
                        "batch_max_events": 200,
                    },
                },
            )
            await put(device_type_config_topic(TYPE), {"version": "t7", "settings": {
                "batch_max_events": 300}})  # fmt: skip
            s = agent_settings(tmp_path, broker.port, DEVICE, device_type=TYPE,
                               status_min_interval_s=0.1)  # fmt: skip
            async with Agent(s) as agent:
                await until(lambda: agent.settings.batch_max_events == 300, "fleet + type")
                assert (agent.settings.status_interval_s, agent.settings.drain_rate_eps) == (
                    300, 5000)  # fmt: skip
                await until(lambda: statuses and statuses[-1].config_version == "fleet=3;type=t7",
                            "version in the status")  # fmt: skip

                # The device's own wins; collection off stops intake at once.
                await put(device_config_topic(DEVICE), {"version": 1, "settings": {
                    "collection": "off", "batch_max_events": 50}})  # fmt: skip
                await until(lambda: agent.collection == "off", "device level")
                assert agent.settings.batch_max_events == 50
                with pytest.raises(CollectionOff):
                    await agent.record("feature_use", "calibrate")
                await until(lambda: statuses[-1].collection == "off"
                            and statuses[-1].config_version == "fleet=3;type=t7;device=1",
                            "status after the device level")  # fmt: skip

                # Refused: an unsafe key; the reason is reported, the values stay.
                await put(device_config_topic(DEVICE), {"version": 2, "settings": {
                    "buffer_path": "/tmp/x", "collection": "on"}})  # fmt: skip
                await until(lambda: statuses[-1].config_error is not None, "refusal")
                assert "buffer_path" in (statuses[-1].config_error or "")
                assert agent.collection == "off" and agent.settings.batch_max_events == 50
                await put(device_config_topic(DEVICE), {"version": 3, "settings": {
                    "feature_sample_rate": 2}})  # fmt: skip
                await until(lambda: "feature_sample_rate" in (statuses[-1].config_error or ""),
                            "bad value")  # fmt: skip

                # Removed (retained delete): back to fleet + type, collection on again.
                await put(device_config_topic(DEVICE), None)
                await until(lambda: agent.collection == "on", "device level removed")
                assert agent.settings.batch_max_events == 300
                await agent.record("feature_use", "calibrate")

                # Sampling: none kept at rate 0 (callers still get their ids).
                await put(device_config_topic(DEVICE), {"version": 4, "settings": {
                    "feature_sample_rate": 0}})  # fmt: skip
                await until(lambda: agent.sample_rate == 0, "sampling")
                before = agent.stats().recorded
                ids = await agent.record_many([{"kind": "feature_use", "feature": "x",
                                                "session_id": "s1"}] * 20)  # fmt: skip
                assert len(ids) == 20 and agent.sampled_out == 20
                assert agent.stats().recorded == before
        finally:
            watcher.cancel()
            for topic in (fleet_config_topic(), device_type_config_topic(TYPE)):
                await put(topic, None)
