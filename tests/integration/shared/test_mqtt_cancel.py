"""A publisher cancelled in the very loop turn its PUBACK lands in is cancelled (real Mosquitto).

On Python 3.11 `asyncio.wait_for` returns the result in that case and drops the cancel: a
collector or agent shutting down while acks were completing would wait forever on its next
await. This is how the agent tests' fake collector once hung a CI run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devkit.broker import LocalBroker
from shared import mqtt
from shared.mqtt import MqttClient
from tests.kits.agent import fast_mqtt

pytestmark = pytest.mark.timeout(60)


async def test_a_cancel_with_the_puback_still_cancels(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    after = asyncio.Event()
    publisher: asyncio.Task[None] | None = None
    settle = mqtt._settle

    def settle_then_cancel(fut: asyncio.Future[int], *args: Any) -> None:
        settle(fut, *args)  # the PUBACK resolves the publish...
        if publisher is not None:
            publisher.cancel()  # ...and the cancel arrives in the same turn

    monkeypatch.setattr(mqtt, "_settle", settle_then_cancel)
    async with MqttClient(fast_mqtt(broker.port), client_id="cancel-race") as client:
        await client.wait_connected(10)

        async def publish_then_wait() -> None:
            await client.publish("pes/v1/test/cancel", b"x", timeout=10)
            await after.wait()  # reached only if the cancel was lost

        publisher = asyncio.create_task(publish_then_wait())
        done, _ = await asyncio.wait([publisher], timeout=10)
        assert done and publisher.cancelled()
