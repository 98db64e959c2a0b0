"""The ingest loop against a real Mosquitto: bad input is quarantined and acknowledged, and the
loop goes on to store the good batch published after it."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from collector.ingest.loop import IngestLoop
from collector.settings import load_settings
from collector.storage import Store, open_store
from devkit.broker import LocalBroker
from shared import codec
from shared import limits as L
from shared.errors import PublishFailed
from shared.models import Ack, AgentStatus
from shared.mqtt import NO_MATCHING_SUBSCRIBERS, MqttClient, MqttSettings
from shared.topics import ack_topic, events_topic, status_topic

NOW = 1_773_480_000_000


async def until_subscribed(client: MqttClient, topic: str, payload: bytes) -> None:
    """Publish `payload` to `topic` until the broker's PUBACK says a subscription matched it:
    the subscriptions sent after CONNACK are in place (rather than sleeping and hoping)."""
    async with asyncio.timeout(10):
        while True:
            if await client.publish(topic, payload) != NO_MATCHING_SUBSCRIBERS:
                return
            await asyncio.sleep(0.01)  # the SUBSCRIBE is on its way: try again


def batch(device: str, first: int, n: int, **over: Any) -> dict[str, Any]:
    events = [
        {"id": f"0190a000-0000-7000-8000-{first + i:012x}", "seq": first + i,
         "kind": "feature_use", "feature": "calibrate", "ts": NOW, "device_type": "press-x",
         "firmware_version": "2.1", "account_id": "acme"}
        for i in range(n)
    ]  # fmt: skip
    doc = {"v": 1, "device_id": device, "stream_id": "s1", "first_seq": first,
           "last_seq": first + n - 1, "sent_ms": NOW, "sent_mono": 1, "boot": "b",
           "events": events}  # fmt: skip
    doc.update(over)
    return doc


@pytest.fixture
async def collector(tmp_path: Path, broker: LocalBroker) -> AsyncIterator[tuple[IngestLoop, Store]]:
    settings = load_settings(
        None,
        storage={"url": f"sqlite:///{tmp_path}/c.db"},
        mqtt={"port": broker.port, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5},
    )
    stop = asyncio.Event()
    async with open_store(settings.storage.url) as store:
        loop = IngestLoop(settings, store)
        task = asyncio.create_task(loop.run(stop))
        try:
            for _ in range(100):
                if loop.mqtt is not None and loop.mqtt.connected.is_set():
                    break
                await asyncio.sleep(0.05)
            # The loop subscribes to events, then to statuses: once a status reaches it, both
            # are in place. gw-0 at depth 0, as the tests themselves report it.
            async with MqttClient(MqttSettings(port=broker.port), client_id="probe") as probe:
                await probe.wait_connected(10)
                await until_subscribed(probe, status_topic("gw-0"), _status("gw-0", 0))
            yield loop, store
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def device(port: int, device_id: str) -> AsyncIterator[tuple[MqttClient, asyncio.Queue[Ack]]]:
    acks: asyncio.Queue[Ack] = asyncio.Queue()
    async with MqttClient(MqttSettings(port=port), client_id=device_id) as c:
        c.subscribe(ack_topic(device_id))
        await c.wait_connected(10)
        # An ack of a stream no device has, to itself: the pump drops it.
        await until_subscribed(c, ack_topic(device_id), _ack_probe())

        async def pump() -> None:
            while True:
                m = await c.messages.get()
                ack = Ack.model_validate(codec.decode(m.payload, m.content_type))
                if ack.stream_id != PROBE_STREAM:
                    await acks.put(ack)

        task = asyncio.create_task(pump())
        try:
            yield c, acks
        finally:
            task.cancel()


async def test_hostile_payloads_are_quarantined_acked_and_ingest_goes_on(
    collector: tuple[IngestLoop, Store], broker: LocalBroker
) -> None:
    loop, store = collector
    topic = events_topic("gw-1")
    async with device(broker.port, "gw-1") as (dev, acks):
        await dev.publish(topic, b"\x00\x01 not json")
        await dev.publish(topic, gzip.compress(b"[" * 10_000))
        await dev.publish(topic, json.dumps(batch("gw-2", 1, 3)).encode())  # spoofed
        await dev.publish(topic, json.dumps(batch("gw-1", 1, L.MAX_EVENTS_PER_BATCH + 1)).encode())
        bad_event = batch("gw-1", 2000, 3)
        bad_event["events"][1]["kind"] = "DROP TABLE events;"
        await dev.publish(topic, json.dumps(bad_event).encode())
        payload, ctype = codec.encode(batch("gw-1", 100, 400))
        await dev.publish(topic, payload, content_type=ctype)

        got = [await asyncio.wait_for(acks.get(), 10) for _ in range(4)]
    by_first = {a.first_seq: a for a in got}
    # spoofed (seq 1..3) and oversized (1..1001) are acknowledged with everything quarantined
    assert by_first[2000].stored == 2 and by_first[2000].quarantined == 1
    assert by_first[100].stored == 400 and by_first[100].quarantined == 0
    stats = await store.stats()
    assert stats["events"] == 402
    assert stats["quarantine_by_reason"] == {
        "bad_json": 2, "spoofed_device_id": 1, "too_many_events": 1, "invalid:kind": 1,
    }  # fmt: skip
    c = loop.counters
    assert (c.stored, c.quarantined) == (402, 5)


async def test_statuses_and_batches_share_commits_and_every_batch_is_acked(
    collector: tuple[IngestLoop, Store], broker: LocalBroker
) -> None:
    """Many devices at once: their statuses are written in the batches' transactions (the
    latest per device; one naming another device is ignored) and a commit's acks, published
    together, each reach their own device with their own counts."""
    loop, store = collector
    n = 30
    async with contextlib.AsyncExitStack() as stack:
        devs = [await stack.enter_async_context(device(broker.port, f"gw-{i}")) for i in range(n)]
        await asyncio.gather(*(
            c.publish(status_topic(f"gw-{i}"), _status(f"gw-{i}", i))
            for i, (c, _) in enumerate(devs)
        ))  # fmt: skip
        await devs[0][0].publish(status_topic("gw-0"), _status("gw-1", 99))  # not its own
        await asyncio.gather(*(
            c.publish(events_topic(f"gw-{i}"), json.dumps(batch(f"gw-{i}", 1, i + 1)).encode())
            for i, (c, _) in enumerate(devs)
        ))  # fmt: skip
        acks = [await asyncio.wait_for(q.get(), 10) for _, q in devs]
    assert [(a.first_seq, a.last_seq, a.stored) for a in acks] == [
        (1, i + 1, i + 1) for i in range(n)
    ]
    assert loop.counters.acks_failed == 0
    for _ in range(50):  # the last status may commit after the last ack was sent
        registry = {d["device_id"]: d for d in await store.devices(100, 0)}
        if all((registry.get(f"gw-{i}") or {}).get("status") for i in range(n)):
            break
        await asyncio.sleep(0.1)
    assert {k: d["status"]["buffer_depth"] for k, d in registry.items()} == {
        f"gw-{i}": i for i in range(n)
    }
    assert (await store.stats())["events"] == n * (n + 1) // 2


PROBE_STREAM = "probe"


def _ack_probe() -> bytes:
    ack = Ack(stream_id=PROBE_STREAM, first_seq=1, last_seq=1, stored=0, duplicates=0,
              quarantined=0, collector_ms=NOW)  # fmt: skip
    return ack.model_dump_json().encode()


def _status(device_id: str, depth: int) -> bytes:
    return (
        AgentStatus(device_id=device_id, state="online", buffer_depth=depth)
        .model_dump_json()
        .encode()
    )


async def test_publish_many_reports_each_outcome(broker: LocalBroker) -> None:
    async with MqttClient(MqttSettings(port=broker.port), client_id="pm") as c:
        assert [type(r) for r in await c.publish_many([("a/b", b"1")])] == [PublishFailed]
        await c.wait_connected(10)
        c.subscribe("t/#")
        await until_subscribed(c, "t/probe", b"p")
        assert (await asyncio.wait_for(c.messages.get(), 5)).topic == "t/probe"  # the match
        got = await c.publish_many([(f"t/{i}", b"x") for i in range(50)] + [("u/1", b"y")])
        assert got == [0] * 50 + [NO_MATCHING_SUBSCRIBERS]
        topics = sorted([(await asyncio.wait_for(c.messages.get(), 5)).topic for _ in range(50)])
        assert topics == sorted(f"t/{i}" for i in range(50))
