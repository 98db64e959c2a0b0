"""The ingest loop's grouping, with a fake MQTT client and a fake store whose commits are held
open by the test: messages that arrive while a commit runs all go into the next commit (not
into groups queued behind it), up to `max_messages_per_commit`; nothing is acknowledged before
its commit; and the next commit does not wait for the broker to confirm the previous acks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, cast

import pytest

from collector.ingest import loop as service
from collector.ingest.loop import IngestLoop
from collector.records import AckTarget, ParsedMessage
from collector.settings import CollectorSettings
from collector.storage import Store, WriteCounts
from shared import codec
from shared.errors import PublishFailed
from shared.mqtt import Message
from shared.topics import events_topic

pytestmark = pytest.mark.timeout(30)


class HeldStore:
    """Each write waits until the test releases it; records each commit's messages."""

    def __init__(self) -> None:
        self.started: asyncio.Queue[list[int]] = asyncio.Queue()
        self.release = asyncio.Semaphore(0)
        self.commits: list[list[int]] = []

    async def write(self, units: list[ParsedMessage], *_: Any) -> list[WriteCounts]:
        seqs = [u.ack.first_seq for u in units if u.ack is not None]
        await self.started.put(seqs)
        await self.release.acquire()
        self.commits.append(seqs)
        return [WriteCounts(1, 0, 0) for _ in units]


class FakeMqtt:
    """What the loop uses of MqttClient; acks' PUBACKs come when the test says."""

    instance: FakeMqtt | None = None

    def __init__(self, *_: Any, **__: Any) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.log: list[tuple[str, int]] = []  # ("ack", seq) app acks, ("puback", mid)
        self.confirm = asyncio.Event()  # the broker's PUBACKs of the app acks
        FakeMqtt.instance = self

    async def __aenter__(self) -> FakeMqtt:
        return self

    async def __aexit__(self, *_: object) -> None:
        pass

    def subscribe(self, topic: str) -> None:
        pass

    def burst(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def ack(self, m: Message) -> None:
        self.log.append(("puback", m.mid))

    def queue_many(self, items: Sequence[tuple[str, bytes]], **_: Any) -> list[int]:
        seqs = [int(codec.decode(p, None)["first_seq"]) for _, p in items]
        self.log.extend(("ack", s) for s in seqs)
        return seqs

    async def published(self, queued: list[int], timeout: float) -> list[int | PublishFailed]:
        await self.confirm.wait()
        return [0 for _ in queued]


def fake_parse(topic: str, payload: bytes, *_: Any, **__: Any) -> ParsedMessage:
    seq = int(payload)
    return ParsedMessage(ack=AckTarget("gw-1", "s1", seq, seq))


def message(seq: int) -> Message:
    return Message(events_topic("gw-1"), str(seq).encode(), 1, seq, None, False)


async def start(
    monkeypatch: pytest.MonkeyPatch, limit: int = 200
) -> tuple[HeldStore, FakeMqtt, asyncio.Event, asyncio.Task[None]]:
    monkeypatch.setattr(service, "MqttClient", FakeMqtt)
    monkeypatch.setattr(service, "parse_batch", fake_parse)
    store = HeldStore()
    settings = CollectorSettings(ingest={"max_messages_per_commit": limit})
    stop = asyncio.Event()
    task = asyncio.create_task(IngestLoop(settings, cast(Store, store)).run(stop))
    await settle()  # the loop has made its client
    mqtt, FakeMqtt.instance = FakeMqtt.instance, None
    assert mqtt is not None
    return store, mqtt, stop, task


async def next_commit(store: HeldStore) -> list[int]:
    """The messages of the next commit to start (a broken loop fails here, not hangs)."""
    return await asyncio.wait_for(store.started.get(), 5)


async def settle() -> None:
    for _ in range(20):  # a few loop turns: whatever can run without the test, runs
        await asyncio.sleep(0)


async def test_messages_arriving_during_a_commit_go_into_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, mqtt, stop, task = await start(monkeypatch)
    mqtt.confirm.set()
    mqtt.messages.put_nowait(message(1))
    assert await next_commit(store) == [1]  # commit 1 runs, held open
    for seq in (2, 3, 4, 5):  # arrive one by one while it runs
        mqtt.messages.put_nowait(message(seq))
        await settle()
    assert mqtt.log == []  # nothing acknowledged before its commit
    store.release.release()
    assert await next_commit(store) == [2, 3, 4, 5]  # one group, not four queued behind
    assert mqtt.log == [("ack", 1), ("puback", 1)]
    store.release.release()
    await settle()
    stop.set()
    mqtt.messages.put_nowait(message(6))  # wakes the reader, which sees stop
    store.release.release()
    await asyncio.wait_for(task, 5)
    assert store.commits[:2] == [[1], [2, 3, 4, 5]]
    assert [e for e in mqtt.log if e[0] == "puback"][:5] == [("puback", m) for m in (1, 2, 3, 4, 5)]


async def test_the_next_group_stops_at_max_messages_per_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, mqtt, stop, task = await start(monkeypatch, limit=2)
    mqtt.confirm.set()
    mqtt.messages.put_nowait(message(1))
    assert await next_commit(store) == [1]
    for seq in (2, 3, 4, 5, 6):
        mqtt.messages.put_nowait(message(seq))
        await settle()
    assert mqtt.messages.qsize() == 3  # the reader waits for room: the rest stays queued
    store.release.release()
    assert await next_commit(store) == [2, 3]
    store.release.release()
    assert await next_commit(store) == [4, 5]
    store.release.release()
    assert await next_commit(store) == [6]
    stop.set()
    store.release.release()
    await asyncio.wait_for(task, 5)
    assert store.commits == [[1], [2, 3], [4, 5], [6]]


async def test_the_next_commit_does_not_wait_for_the_brokers_ack_confirmations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, mqtt, stop, task = await start(monkeypatch)  # mqtt.confirm not set: acks pending
    mqtt.messages.put_nowait(message(1))
    assert await next_commit(store) == [1]
    mqtt.messages.put_nowait(message(2))
    await settle()
    store.release.release()
    # commit 2 starts while commit 1's acks are still unconfirmed by the broker
    assert await next_commit(store) == [2]
    assert mqtt.log == [("ack", 1), ("puback", 1)]  # the app ack handed over before the PUBACK
    store.release.release()
    await settle()
    assert mqtt.log[2:] == [("ack", 2), ("puback", 2)]  # nor do commit 2's acks wait for them
    stop.set()
    mqtt.messages.put_nowait(message(3))
    store.release.release()
    await settle()
    assert not task.done()  # shutdown waits for the acks' confirmations (or their timeout)
    mqtt.confirm.set()
    await asyncio.wait_for(task, 5)


async def test_a_backlog_is_parsed_a_few_messages_per_turn_of_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backlog queued during a commit is parsed in chunks of PARSE_CHUNK messages, other
    tasks running between them (the commit's database calls and the API's requests come back
    through the same loop), and still all goes into the next commit."""
    trace: list[str] = []

    def parse(*args: Any, **kwargs: Any) -> ParsedMessage:
        trace.append("parse")
        return fake_parse(*args, **kwargs)

    store, mqtt, stop, task = await start(monkeypatch)
    monkeypatch.setattr(service, "parse_batch", parse)  # after start(), which sets fake_parse
    mqtt.confirm.set()
    mqtt.messages.put_nowait(message(1))
    assert await next_commit(store) == [1]
    backlog = list(range(2, 2 + 5 * service.PARSE_CHUNK))
    for seq in backlog:  # all queued at once, as after a stall
        mqtt.messages.put_nowait(message(seq))
    trace.clear()

    async def other_task() -> None:
        while True:
            trace.append("other")
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await settle()
    for _ in range(200):
        if trace.count("parse") == len(backlog):
            break
        await asyncio.sleep(0)
    other.cancel()
    runs = "".join("p" if t == "parse" else " " for t in trace).split()
    assert sum(map(len, runs)) == len(backlog)
    assert max(map(len, runs)) == service.PARSE_CHUNK  # never more at once
    store.release.release()
    assert await next_commit(store) == backlog  # one group all the same
    stop.set()
    store.release.release()
    await asyncio.wait_for(task, 5)


async def test_a_backlog_found_by_an_idle_writer_is_one_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer takes a group once the backlog taken from the queue is all parsed, not its
    first chunk: as many commits (and fsyncs) for a backlog as when it was parsed in one call."""
    store, mqtt, stop, task = await start(monkeypatch)
    mqtt.confirm.set()
    backlog = list(range(1, 1 + 3 * service.PARSE_CHUNK + 1))
    for seq in backlog:
        mqtt.messages.put_nowait(message(seq))
    assert await next_commit(store) == backlog
    stop.set()
    store.release.release()
    await asyncio.wait_for(task, 5)
    assert store.commits == [backlog]
