"""The agent tests' fake collector (tests/kits/agent.py) fails loudly: a check that fails inside
its serving task surfaces at once, as itself, not as a timeout waiting for acks."""

from __future__ import annotations

import time

import pytest

from agent.ids import uuid7
from devkit.broker import LocalBroker
from shared import codec
from shared.models import Batch, WireEvent
from shared.mqtt import MqttClient
from shared.topics import events_topic
from tests.kits.agent import FakeCollector, fast_mqtt

pytestmark = pytest.mark.timeout(60)


def _batch(device_id: str) -> tuple[bytes, str]:
    now = time.time_ns() // 1_000_000
    event = WireEvent(
        id=uuid7(), seq=1, kind="session_start", ts=now,
        device_type="gateway-x1", firmware_version="4.2.1", account_id="acme",
    )  # fmt: skip
    batch = Batch(
        device_id=device_id, stream_id="s1", first_seq=1, last_seq=1, sent_ms=now,
        sent_mono=1, boot="b1", events=[event],
    )  # fmt: skip
    return codec.encode(batch.model_dump(), compress=False)


async def test_a_failed_check_in_the_serving_task_surfaces_as_itself(
    broker: LocalBroker,
) -> None:
    # A batch whose device_id is not its topic's: the fake collector's own assert fails.
    payload, ctype = _batch("someone-else")
    started = time.monotonic()
    with pytest.raises(AssertionError):
        async with (
            FakeCollector(broker.port) as collector,
            MqttClient(fast_mqtt(broker.port), client_id="kit-device") as dev,
        ):
            await dev.wait_connected(10)
            await dev.publish(events_topic("dev-a"), payload, content_type=ctype, timeout=5)
            await collector.wait_for("dev-a", "never-sent", timeout=30)
    assert time.monotonic() - started < 20  # raised on the failure, not at wait_for's timeout


async def test_a_good_batch_is_acked_and_recorded(broker: LocalBroker) -> None:
    payload, ctype = _batch("dev-a")
    event_id = Batch.model_validate(codec.decode(payload, ctype)).events[0].id
    async with (
        FakeCollector(broker.port) as collector,
        MqttClient(fast_mqtt(broker.port), client_id="kit-device") as dev,
    ):
        await dev.wait_connected(10)
        await dev.publish(events_topic("dev-a"), payload, content_type=ctype, timeout=5)
        await collector.wait_for("dev-a", event_id, timeout=20)
        assert collector.events["dev-a"] == {event_id: 1}
