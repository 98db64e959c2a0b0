"""A tiny fake collector and settings helpers for the agent's integration tests.

The fake collector is the real protocol minus storage: a shared subscription on every device's
events topic, batches decoded with shared.codec and validated with shared.models.Batch, and an
Ack for each batch's range on the device's ack topic. Knobs let a test withhold acks."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from agent.settings import AgentSettings
from agent.settings import MqttSettings as AgentMqttSettings
from shared import codec
from shared.models import Ack, Batch, WireEvent
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import ack_topic, device_from_topic, shared_events_subscription

_ids = itertools.count()


def fast_mqtt(port: int) -> MqttSettings:
    return MqttSettings(port=port, reconnect_initial_s=0.05, reconnect_max_s=0.5, keepalive=5)


def fast_agent_mqtt(port: int) -> AgentMqttSettings:
    """fast_mqtt() as the agent's own settings type."""
    return AgentMqttSettings(port=port, reconnect_initial_s=0.05, reconnect_max_s=0.5, keepalive=5)


def agent_settings(tmp_path: Path, port: int, device_id: str, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": device_id,
        "device_type": "gateway-x1",
        "firmware_version": "4.2.1",
        "account_id": "acme",
        "buffer_path": tmp_path / f"{device_id}.db",
        "mqtt": fast_agent_mqtt(port),
        "linger_ms": 20,
        "ack_timeout_s": 5.0,
    }
    values.update(kw)
    return AgentSettings(**values)


class FakeCollector:
    """`ignore_first`: drop the first delivery of every batch range (no ack, as if the
    collector had died before committing). `acking`: when False, receive but never ack."""

    def __init__(self, port: int, *, ignore_first: bool = False, acking: bool = True) -> None:
        self.mqtt = MqttClient(fast_mqtt(port), client_id=f"fake-collector-{next(_ids)}")
        self.mqtt.subscribe(shared_events_subscription())
        self.ignore_first = ignore_first
        self.acking = acking
        self.events: dict[str, dict[str, int]] = defaultdict(dict)  # device -> event id -> seq
        self.wire: dict[str, dict[str, WireEvent]] = defaultdict(dict)  # device -> id -> event
        self.deliveries: Counter[tuple[str, str, int, int]] = Counter()
        self.withheld = asyncio.Event()  # set when a delivery was received and not acked
        self.received = asyncio.Event()  # set (and replaced) on every batch
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FakeCollector:
        await self.mqtt.__aenter__()
        await self.mqtt.wait_connected(10)
        self._task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        failure: BaseException | None = None
        if self._task is not None:
            self._task.cancel()
            (result,) = await asyncio.gather(self._task, return_exceptions=True)
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                failure = result
        await self.mqtt.__aexit__(None, None, None)
        if failure is not None:  # a check inside the serving task failed: that is the test's error
            raise failure

    def raise_if_failed(self) -> None:
        """Re-raise what stopped the serving task (e.g. a failed assert on a batch), so a test
        fails with it at once instead of timing out waiting for acks that never come."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            failure = self._task.exception()
            if failure is not None:
                raise failure

    async def wait_for(self, device_id: str, event_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while event_id not in self.events[device_id]:
            self.raise_if_failed()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{event_id} of {device_id} never arrived")
            ev = self.received
            try:
                await asyncio.wait_for(ev.wait(), min(left, 0.5))
            except TimeoutError:
                pass

    async def _serve(self) -> None:
        try:
            await self._serve_forever()
        finally:
            self.received.set()  # wake wait_for: it re-raises the failure (or sees cancellation)

    async def _serve_forever(self) -> None:
        while True:
            msg = await self.mqtt.messages.get()
            device, _ = device_from_topic(msg.topic)
            batch = Batch.model_validate(codec.decode(msg.payload, msg.content_type))
            assert batch.device_id == device
            key = (device, batch.stream_id, batch.first_seq, batch.last_seq)
            self.deliveries[key] += 1
            received, self.received = self.received, asyncio.Event()
            received.set()
            if not self.acking or (self.ignore_first and self.deliveries[key] == 1):
                self.withheld.set()
                continue
            for e in batch.events:
                self.events[device][e.id] = e.seq
                self.wire[device][e.id] = e
            ack = Ack(
                stream_id=batch.stream_id,
                first_seq=batch.first_seq,
                last_seq=batch.last_seq,
                stored=len(batch.events),
                duplicates=0,
                quarantined=0,
                collector_ms=time.time_ns() // 1_000_000,
            )
            payload, ctype = codec.encode(ack.model_dump(), compress=False)
            await self.mqtt.publish(ack_topic(device), payload, content_type=ctype, timeout=5)
