"""The publisher with a real buffer and a fake MQTT client: window, retries, reconnects, acks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest

from agent.batch import ANCHOR_BYTES, HEADER_RESERVE_BYTES
from agent.buffer import SEQ_OVERHEAD_BYTES, Buffer
from agent.events import make_event
from agent.publisher import Publisher
from agent.settings import AgentSettings
from shared import codec
from shared.errors import PublishFailed
from shared.models import Ack, Batch
from shared.mqtt import NO_MATCHING_SUBSCRIBERS, MqttClient

pytestmark = pytest.mark.timeout(30)


class FakeMqtt:
    """Just what the publisher uses of MqttClient: connected, epoch, publish()."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.connected.set()
        self.epoch = 1
        self.fail = 0
        self.code = 0  # the PUBACK's reason code: NO_MATCHING_SUBSCRIBERS while nobody listens
        self.batches: list[Batch] = []

    async def publish(self, topic: str, payload: bytes, **kw: Any) -> int:
        if self.fail:
            self.fail -= 1
            raise PublishFailed("broker said no")
        self.batches.append(Batch.model_validate(codec.decode(payload, kw["content_type"])))
        return self.code

    def reconnect(self) -> None:
        self.epoch += 1


def settings(tmp_path: Path, **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": "gw-1",
        "device_type": "t",
        "firmware_version": "1",
        "account_id": "a",
        "buffer_path": tmp_path / "b.db",
        "linger_ms": 0,
    }
    return AgentSettings(**(values | kw))


def ack_payload(stream: str, first: int, last: int, **kw: Any) -> bytes:
    ack = Ack(stream_id=stream, first_seq=first, last_seq=last, stored=0, duplicates=0,
              quarantined=0, collector_ms=1_800_000_000_000)  # fmt: skip
    return codec.encode(ack.model_dump() | kw)[0]


async def until(cond: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class Steps:
    """Counts the publisher's completed steps (each looks for due resends, then for a batch to
    send). Instead of a fixed sleep before asserting that nothing more was sent, a test waits
    for a few more steps: whatever the publisher would have sent by then, it has sent."""

    def __init__(self, pub: Publisher, monkeypatch: pytest.MonkeyPatch) -> None:
        self.done = 0
        step = pub._step

        async def counted() -> None:
            await step()
            self.done += 1

        monkeypatch.setattr(pub, "_step", counted)

    async def settle(self, more: int = 3) -> None:
        target = self.done + more
        await until(lambda: self.done >= target)


Env = tuple[Buffer, FakeMqtt, Publisher]
MakeEnv = Callable[..., Awaitable[Env]]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[MakeEnv]:
    made: list[tuple[Buffer, Publisher, asyncio.Task[None]]] = []

    async def make(events: int, **kw: Any) -> Env:
        s = settings(tmp_path, **kw)
        buf = Buffer(s.buffer_path)
        buf.open()
        buf.append_many([make_event(s, "session_start") for _ in range(events)])
        mqtt = FakeMqtt()
        pub = Publisher(buf, cast(MqttClient, mqtt), s, idle_poll_s=0.05)
        made.append((buf, pub, asyncio.create_task(pub.run())))
        return buf, mqtt, pub

    yield make
    for buf, pub, task in made:
        pub.stop()
        await asyncio.wait_for(task, 5)  # stop is prompt: no sleep outlives it
        buf.close()


async def test_window_bounds_unacked_batches_and_acks_free_it(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf, mqtt, pub = await env(5, window=2, batch_max_events=1)
    steps = Steps(pub, monkeypatch)
    await until(lambda: len(mqtt.batches) == 2)
    await steps.settle()
    assert len(mqtt.batches) == 2 and pub.inflight == 2  # window full: nothing more
    await pub.on_ack(ack_payload(buf.stream_id, 1, 1), codec.CONTENT_JSON)
    await until(lambda: len(mqtt.batches) == 3)
    assert [b.first_seq for b in mqtt.batches] == [1, 2, 3]
    assert buf.depth() == 4 and pub.stats.events_acked == 1
    assert buf.anchors()  # the ack's collector time was kept as an anchor


async def test_publish_failures_are_retried_with_backoff(env: MakeEnv) -> None:
    _, mqtt, pub = await env(3)
    mqtt.fail = 2
    await until(lambda: len(mqtt.batches) == 1)
    assert pub.stats.publish_failures == 2
    assert [e.seq for e in mqtt.batches[0].events] == [1, 2, 3]


async def test_reconnect_resends_from_the_first_unacked_seq(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf, mqtt, pub = await env(4, window=4, batch_max_events=2, ack_timeout_s=60)
    steps = Steps(pub, monkeypatch)
    await until(lambda: len(mqtt.batches) == 2)
    await pub.on_ack(ack_payload(buf.stream_id, 3, 4), codec.CONTENT_JSON)  # out of order
    mqtt.reconnect()
    pub.poke()
    await until(lambda: len(mqtt.batches) == 3)
    assert [e.seq for e in mqtt.batches[2].events] == [1, 2]  # 3-4 were acked: not resent
    await steps.settle()
    assert len(mqtt.batches) == 3


async def test_batch_without_ack_is_resent_after_timeout(env: MakeEnv) -> None:
    buf, mqtt, pub = await env(2, ack_timeout_s=0.3)
    await until(lambda: len(mqtt.batches) == 2, timeout=3)
    assert mqtt.batches[0].first_seq == mqtt.batches[1].first_seq == 1
    assert pub.stats.batches_resent == 1 and buf.depth() == 2


async def test_bad_or_foreign_acks_are_ignored_and_duplicates_are_harmless(env: MakeEnv) -> None:
    buf, mqtt, pub = await env(3, ack_timeout_s=60)
    await until(lambda: len(mqtt.batches) == 1)
    await pub.on_ack(b"{not json", codec.CONTENT_JSON)
    await pub.on_ack(ack_payload(buf.stream_id, 1, 3, extra="x"), codec.CONTENT_JSON)
    await pub.on_ack(ack_payload("s-other", 1, 3), codec.CONTENT_JSON)
    assert pub.stats.acks_ignored == 3 and buf.depth() == 3
    progress = asyncio.create_task(pub.wait_progress(5))
    await pub.on_ack(ack_payload(buf.stream_id, 1, 3), codec.CONTENT_JSON)
    await asyncio.wait_for(progress, 1)
    await pub.on_ack(ack_payload(buf.stream_id, 1, 3), codec.CONTENT_JSON)  # acked twice
    assert buf.depth() == 0 and pub.inflight == 0 and pub.stats.acks == 2


async def test_drops_are_reported_until_a_batch_carrying_them_is_acked(tmp_path: Path) -> None:
    s = settings(tmp_path, window=1, batch_max_events=100, ack_timeout_s=60)
    buf = Buffer(s.buffer_path, max_bytes=1024 * 1024)
    buf.open()
    while not buf.pending_drops():
        buf.append_many([make_event(s, "session_start", props={"p": "x" * 100})] * 200)
    (drop,) = buf.pending_drops()
    mqtt = FakeMqtt()
    pub = Publisher(buf, cast(MqttClient, mqtt), s, idle_poll_s=0.05)
    task = asyncio.create_task(pub.run())
    try:
        await until(lambda: len(mqtt.batches) == 1)
        first = mqtt.batches[0]
        assert first.first_seq == drop.last + 1
        assert [(d.first_seq, d.last_seq, d.reason) for d in first.drops] == [drop]
        await pub.on_ack(ack_payload(buf.stream_id, first.first_seq, first.last_seq), "")
        await until(lambda: len(mqtt.batches) == 2)
        assert mqtt.batches[1].drops == [] and buf.pending_drops() == []
    finally:
        pub.stop()
        await task
        buf.close()


async def test_drops_alone_are_reported_by_an_empty_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings(tmp_path)
    buf = Buffer(s.buffer_path, max_bytes=1024 * 1024)
    buf.open()
    while not buf.pending_drops():
        buf.append_many([make_event(s, "session_start", props={"p": "x" * 100})] * 200)
    buf.ack(1, buf.last_seq())  # everything left was acked: only the drop range is pending
    mqtt = FakeMqtt()
    pub = Publisher(buf, cast(MqttClient, mqtt), s, idle_poll_s=0.05)
    steps = Steps(pub, monkeypatch)
    task = asyncio.create_task(pub.run())
    try:
        await until(lambda: len(mqtt.batches) == 1)
        b = mqtt.batches[0]
        assert b.events == [] and len(b.drops) == 1
        assert (b.first_seq, b.last_seq) == (b.drops[0].first_seq, b.drops[0].last_seq)
        await pub.on_ack(ack_payload(buf.stream_id, b.first_seq, b.last_seq), "")
        assert buf.pending_drops() == [] and pub.inflight == 0
        await steps.settle()
        assert len(mqtt.batches) == 1
    finally:
        pub.stop()
        await task
        buf.close()


async def test_drain_rate_is_bounded(env: MakeEnv) -> None:
    _, mqtt, pub = await env(1000, drain_rate_eps=100, batch_max_events=100, window=100)
    await until(lambda: len(mqtt.batches) >= 2, timeout=10)  # a burst of 100, then 100/s
    assert pub.stats.throttled_s >= 0.5  # the second batch waited for its tokens
    assert len(mqtt.batches) < 10  # not all at once


async def test_a_resend_that_fits_fewer_rows_leaves_none_behind(tmp_path: Path) -> None:
    # The first batch is sent before any ack (no anchors in its header); by its resend an
    # anchor is known, the header is larger and fewer rows fit: the rest must still go out.
    base = settings(tmp_path)
    events = [make_event(base, "session_start", props={"p": "x" * 100}) for _ in range(400)]
    size = len(json.dumps(events[0], separators=(",", ":"))) + SEQ_OVERHEAD_BYTES
    fit = 50  # rows that fit without an anchor; one less with one
    max_bytes = HEADER_RESERVE_BYTES + fit * size + ANCHOR_BYTES // 2
    s = settings(tmp_path, batch_max_bytes=max_bytes, window=2, ack_timeout_s=0.5)
    buf = Buffer(s.buffer_path)
    buf.open()
    buf.append_many(events)
    mqtt = FakeMqtt()
    pub = Publisher(buf, cast(MqttClient, mqtt), s, idle_poll_s=0.05)
    task = asyncio.create_task(pub.run())
    try:
        await until(lambda: len(mqtt.batches) == 2)
        first, second = mqtt.batches
        assert first.last_seq == fit
        await pub.on_ack(ack_payload(buf.stream_id, second.first_seq, second.last_seq), "")
        await until(lambda: any(b.first_seq == fit for b in mqtt.batches[2:]), timeout=10)
        resent = [b for b in mqtt.batches[2:] if b.first_seq <= fit]
        assert resent[0].last_seq == fit - 1  # the resend held one row less...
        covered = {e.seq for b in resent for e in b.events}
        assert set(range(1, fit + 1)) <= covered  # ...and the last row went out after it
    finally:
        pub.stop()
        await task
        buf.close()


class FakeClock:
    """The publisher's clock (its deadlines), moved by the test: no timing on a busy machine."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_resends_back_off_while_acks_keep_timing_out(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waits of 0.1, then 0.1-0.2, 0.2-0.4, 0.4-0.8, 0.8-1.6 s: the 3rd resend at 0.4-0.7 s, the
    # 4th at 0.8-1.5 s, the 5th not before 1.6 s (one per ack timeout would be 15 by then).
    # Time is the fake clock's, moved 50 ms at a time: no timing on a busy machine.
    _, mqtt, pub = await env(1, ack_timeout_s=0.1)
    clock = FakeClock()
    monkeypatch.setattr(pub, "_now", clock)  # before the publisher's first step
    steps = Steps(pub, monkeypatch)
    await until(lambda: len(mqtt.batches) == 1)
    resent_at: dict[int, float] = {}
    for tick in range(1, 32):  # to 1.55 s
        clock.t = 1000.0 + tick * 0.05
        await steps.settle(2)
        resent_at.setdefault(pub.stats.batches_resent, tick * 0.05)
    assert pub.stats.batches_resent == 4
    assert 0.4 - 1e-9 <= resent_at[3] <= 0.75 and resent_at[4] >= 0.8 - 1e-9
    assert pub.resend_level == pub.stats.batches_resent
    assert {b.first_seq for b in mqtt.batches} == {1}


async def resent_once(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch, events: int
) -> tuple[Env, FakeClock]:
    """Two batches of one event (ack_timeout_s 10 s) sent, then resent once for want of an
    ack: level 1, next resends in 10-20 s on the fake clock."""
    made = await env(events, window=2, batch_max_events=1, ack_timeout_s=10)
    mqtt, clock = made[1], FakeClock()
    monkeypatch.setattr(made[2], "_now", clock)  # before the publisher's first step
    await until(lambda: len(mqtt.batches) == 2)
    clock.t += 10
    await until(lambda: len(mqtt.batches) == 4)
    return made, clock


async def test_new_batches_wait_at_the_links_level_until_acks_come_in_time(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    (buf, mqtt, pub), clock = await resent_once(env, monkeypatch, 4)
    clock.t += 20  # still none: both resent again, level 2 (waits of 20-40 s)
    await until(lambda: pub.stats.batches_resent == 4)
    assert pub.resend_level == 2
    ack = codec.CONTENT_JSON
    await pub.on_ack(ack_payload(buf.stream_id, 1, 2), ack)  # resent batches: level stays
    await until(lambda: [b.first_seq for b in mqtt.batches][-2:] == [3, 4])
    assert pub.resend_level == 2
    clock.t += 15  # past ack_timeout_s, within level 2's wait: 3 and 4 are not resent
    await Steps(pub, monkeypatch).settle()
    assert pub.stats.batches_resent == 4
    await pub.on_ack(ack_payload(buf.stream_id, 3, 3), ack)  # acked in time: one level down
    assert pub.resend_level == 1
    mqtt.reconnect()  # a new connection resends everything at once, from level 0
    await until(lambda: pub.resend_level == 0 and mqtt.batches[-1].first_seq == 4)
    assert buf.depth() == 1


async def test_a_batch_overtaken_by_a_later_ack_is_resent_at_once(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batch 1's copy was lost (a killed collector), batch 2's went through: the ack for 2
    # shows the link works, so 1 goes again now, not at its backed-off deadline.
    (buf, mqtt, pub), clock = await resent_once(env, monkeypatch, 2)
    clock.t += 10  # older than ack_timeout_s; not due before 20 s unless overtaken
    sent = len(mqtt.batches)
    await pub.on_ack(ack_payload(buf.stream_id, 2, 2), codec.CONTENT_JSON)
    await until(lambda: len(mqtt.batches) > sent)
    assert mqtt.batches[-1].first_seq == 1 and buf.depth() == 1


async def test_batches_that_found_no_subscriber_go_again_once_one_finds_one(
    env: MakeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A window published before the collector resubscribed found nobody (the broker kept no
    # copy). The first batch that finds a subscriber shows a collector is back: the others go
    # again now, not one by one at their backed-off deadlines (the clock is frozen here, so
    # without that they would never go).
    buf, mqtt, pub = await env(2, window=3, batch_max_events=1, ack_timeout_s=60)
    mqtt.code = NO_MATCHING_SUBSCRIBERS
    monkeypatch.setattr(pub, "_now", FakeClock())  # before the publisher's first step
    steps = Steps(pub, monkeypatch)
    await until(lambda: pub.stats.no_subscribers == 2)
    await steps.settle()
    assert len(mqtt.batches) == 2 and pub.stats.batches_resent == 0
    mqtt.code = 0  # a collector subscribed
    buf.append_many([make_event(settings(tmp_path), "session_start")])
    pub.poke()
    await until(lambda: len(mqtt.batches) == 5)
    assert [b.first_seq for b in mqtt.batches] == [1, 2, 3, 1, 2]
    await steps.settle()
    assert len(mqtt.batches) == 5  # each went once more, not again on its old deadline


async def nobody_listening(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch, n: int
) -> tuple[Env, FakeClock, Steps]:
    """n one-event batches, a window of n, each published once and finding no subscriber; the
    publisher's clock frozen (moved by the test)."""
    buf, mqtt, pub = await env(n, window=n, batch_max_events=1, ack_timeout_s=10)
    mqtt.code = NO_MATCHING_SUBSCRIBERS
    clock = FakeClock()
    monkeypatch.setattr(pub, "_now", clock)
    steps = Steps(pub, monkeypatch)
    await until(lambda: pub.stats.no_subscribers == n)
    return (buf, mqtt, pub), clock, steps


async def test_while_nobody_listens_one_batch_asks_and_the_window_waits(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No collector subscribed for a long while: only the probe (the first batch that found
    # nobody) is sent again on its backoff; the rest of the window is not re-read, rebuilt and
    # uploaded over and over (it was: ~12 batches a second, ~8% of a core), and goes at once
    # when a publish is heard.
    (_buf, mqtt, pub), clock, steps = await nobody_listening(env, monkeypatch, 4)
    for _ in range(20):  # 20 x 10 s: past every backoff and ack timeout, many times over
        clock.t += 10
        pub.poke()
        await steps.settle()
    resent = [b.first_seq for b in mqtt.batches[4:]]
    assert resent and set(resent) == {1}  # the probe only
    assert pub.stats.batches_resent == len(resent)
    mqtt.code = 0  # a collector subscribed: the probe's next copy is heard
    clock.t += 10
    pub.poke()
    await until(
        lambda: sorted(b.first_seq for b in mqtt.batches[4 + len(resent) :]) == [1, 2, 3, 4]
    )


async def test_a_probe_acked_hands_the_asking_to_the_oldest_waiting_batch(
    env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    (buf, mqtt, pub), clock, steps = await nobody_listening(env, monkeypatch, 3)
    # The probe's copy reached a collector after all (acked), the others still wait: without a
    # hand-over nobody would ask again until a publish is heard.
    await pub.on_ack(ack_payload(buf.stream_id, 1, 1), codec.CONTENT_JSON)
    sent = len(mqtt.batches)
    pub.poke()
    await until(lambda: len(mqtt.batches) > sent)
    assert mqtt.batches[sent].first_seq == 2  # the oldest waiting batch, now
    for _ in range(10):
        clock.t += 10
        pub.poke()
        await steps.settle()
    assert {b.first_seq for b in mqtt.batches[sent:]} == {2}  # and it alone from then on


async def test_a_draining_backlog_returns_its_space_once_drained(tmp_path: Path) -> None:
    """While more events wait behind the batches sent, acks leave the freed pages in the file
    (returning them would move the pages of events about to be sent and deleted); the ack
    that ends the drain gives the space back."""
    s = settings(tmp_path, window=2, batch_max_events=100, ack_timeout_s=60)
    buf = Buffer(s.buffer_path, max_bytes=4 * 1024 * 1024)
    buf.open()
    buf.append_many([make_event(s, "session_start", props={"p": "x" * 100, "q": "y" * 100})] * 3000)
    full = buf.path.stat().st_size
    mqtt = FakeMqtt()
    pub = Publisher(buf, cast(MqttClient, mqtt), s, idle_poll_s=0.05)
    task = asyncio.create_task(pub.run())
    try:
        for k in range(30):
            await until(partial(lambda n: len(mqtt.batches) > n, k))
            batch = mqtt.batches[k]
            await pub.on_ack(ack_payload(buf.stream_id, batch.first_seq, batch.last_seq), "")
            if batch.last_seq < 2700:  # more than a batch not sent yet: still draining
                assert buf.path.stat().st_size == full
        assert buf.depth() == 0
        assert buf.disk_bytes() < full / 2
    finally:
        pub.stop()
        await task
        buf.close()
