"""The ingest loop's store-error handling with a fake store and a fake MQTT client, on a fake
clock (the retry sleeps are recorded, not slept): retried with a short cap, nothing
acknowledged before the commit."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import pytest

from collector.errors import StoreUnavailable
from collector.ingest import loop as service
from collector.ingest.loop import IngestLoop, _Parsed
from collector.records import ParsedMessage
from collector.settings import CollectorSettings
from collector.storage import Store, WriteCounts
from shared.mqtt import Message, MqttClient

pytestmark = pytest.mark.timeout(30)


class DownStore:
    """A database that is down for `failures` writes, then commits."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.committed = 0

    async def write(self, units: list[ParsedMessage], *_: Any) -> list[WriteCounts]:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("postgresql: connection refused")
        self.committed += 1
        return [WriteCounts(0, 0, 0) for _ in units]


class AckLog:
    def __init__(self, store: DownStore) -> None:
        self.store = store
        self.acked: list[tuple[int, int]] = []  # (mid, commits when PUBACKed)

    def burst(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def ack(self, m: Message) -> None:
        self.acked.append((m.mid, self.store.committed))


async def test_store_errors_are_retried_within_2s_and_acked_only_after_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def fake_sleep(stop: asyncio.Event, seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    monkeypatch.setattr(service, "sleep_unless", fake_sleep)
    store = DownStore(failures=30)  # a long outage: the backoff reaches its cap
    loop = IngestLoop(CollectorSettings(), cast(Store, store))
    mqtt = AckLog(store)
    msgs = [Message("pes/v1/dev/gw-1/events", b"{}", 1, mid, None, False) for mid in (1, 2)]
    item = _Parsed(msgs, [ParsedMessage(), ParsedMessage()], [], 0)
    await loop._handle(cast(MqttClient, mqtt), item, asyncio.Event())
    assert len(waits) == 30 and loop.counters.store_errors == 30
    assert waits[0] <= 0.2 and max(waits) <= 2.0  # the database is found back within 2 s
    assert min(waits[10:]) >= 1.0  # ...backing off, not hammering it
    assert mqtt.acked == [(1, 1), (2, 1)]  # PUBACKs after the one commit, none before


async def test_shutdown_interrupts_the_retry_and_acks_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def stopped(stop: asyncio.Event, seconds: float) -> bool:
        return True

    monkeypatch.setattr(service, "sleep_unless", stopped)
    store = DownStore(failures=5)
    loop = IngestLoop(CollectorSettings(), cast(Store, store))
    mqtt = AckLog(store)
    msg = Message("pes/v1/dev/gw-1/events", b"{}", 1, 7, None, False)
    await loop._handle(
        cast(MqttClient, mqtt), _Parsed([msg], [ParsedMessage()], [], 0), asyncio.Event()
    )
    assert mqtt.acked == [] and store.committed == 0  # the broker redelivers it later
