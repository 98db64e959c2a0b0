"""The ingest loop: shared subscription -> validate -> one transaction per group of messages ->
application ack to each device -> MQTT PUBACK. Never dies: bad input is quarantined, database
errors are retried with backoff, broker disconnects are handled by the MQTT bridge."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from operator import attrgetter

from collector.errors import StoreError, StoreUnavailable
from collector.ingest.gcpolicy import ingest_gc
from collector.ingest.metrics import IngestCounters, IngestMetrics
from collector.ingest.parse import parse_batch
from collector.records import AckTarget, ParsedMessage, StatusRow
from collector.settings import CollectorSettings
from collector.storage import WriteCounts, Writer
from shared import codec
from shared.errors import PesError, PublishFailed
from shared.models import Ack, AgentStatus
from shared.mqtt import Message, MqttClient
from shared.retry import Backoff, sleep_unless
from shared.topics import (
    ack_topic,
    device_from_topic,
    shared_events_subscription,
    status_subscription,
)

log = logging.getLogger(__name__)
_TS = attrgetter("ts_ms")  # per event: no Python frame per event in the lag gauge
# Messages parsed per turn of the event loop. A backlog (after a stall) parsed in one call held
# the loop for up to 0.3 s, and with it the steps of the commit running meanwhile (each
# database call of a commit comes back through the loop) and the API's requests. The group
# is still the whole backlog taken from the queue at once (_NextGroup).
PARSE_CHUNK = 8


@dataclass(frozen=True, slots=True)
class _Parsed:
    messages: list[Message]
    units: list[ParsedMessage]
    statuses: list[StatusRow]
    received_ms: int

    def joined(self, later: _Parsed) -> _Parsed:
        """One group of both; received when the later part was (every message had arrived)."""
        return _Parsed(
            self.messages + later.messages,
            self.units + later.units,
            self.statuses + later.statuses,
            max(self.received_ms, later.received_ms),
        )


class _NextGroup:
    """The parsed group waiting for the writer: at most one. Until the writer takes it, messages
    parsed meanwhile join it (up to `limit` messages), so that a message arriving while a
    commit runs goes into the next commit rather than into a group queued behind it. Parsing
    still overlaps the commit: the writer finds the group parsed when it is free. A group is
    ready for the writer once the messages taken from the queue together are all parsed
    (`add(..., done=True)`), or full: a backlog parsed a few messages at a time is still one
    commit, not a first small one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._group: _Parsed | None = None
        self._closed = False
        self._ready = asyncio.Event()  # a group waits, or closed
        self._room = asyncio.Event()  # the waiting group (if any) has room for more messages
        self._room.set()

    def room(self) -> int:
        return self.limit - (len(self._group.messages) if self._group is not None else 0)

    async def wait_room(self) -> None:
        await self._room.wait()

    def add(self, parsed: _Parsed, done: bool = True) -> None:
        """Parsed messages join the group; `done`: the last of the messages taken together."""
        group = self._group
        self._group = parsed if group is None else group.joined(parsed)
        full = self.room() <= 0
        if done or full:
            self._ready.set()
        if full:
            self._room.clear()

    def close(self) -> None:
        """No more groups: `take` returns the one waiting, if any, then None."""
        self._closed = True
        self._ready.set()

    async def take(self) -> _Parsed | None:
        await self._ready.wait()
        group, self._group = self._group, None
        if not self._closed:
            self._ready.clear()
        self._room.set()
        return group


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class IngestLoop:
    def __init__(
        self, settings: CollectorSettings, store: Writer, *, fast_parse: bool = True
    ) -> None:
        self.settings = settings
        self.store = store
        # False: the pydantic path alone (same records, slower): the benchmarks' baseline.
        self.fast_parse = fast_parse
        self.counters = IngestCounters()
        self.metrics = IngestMetrics()
        self.mqtt: MqttClient | None = None
        self._backoff = Backoff(0.2, 5.0)  # restarts of the whole loop
        # Store errors: a failed attempt costs one refused connection, and the sooner a retry
        # finds the database back, the sooner the held messages commit and the agents drain.
        self._store_backoff = Backoff(0.2, 2.0)
        self._acks: set[asyncio.Task[None]] = set()  # commits' acks awaiting their PUBACKs

    async def run_forever(self, stop: asyncio.Event) -> None:
        """`run`, restarted after any unexpected failure: ingest must outlive its own bugs.
        Nothing is lost meanwhile: unacknowledged batches are redelivered or resent."""
        attempt = 0
        while not stop.is_set():
            try:
                await self.run(stop)
                return
            except Exception:
                log.exception("ingest loop failed; restarting")
                self.counters.store_errors += 1
                if await sleep_unless(stop, self._backoff.delay(attempt)):
                    return
                attempt += 1

    async def run(self, stop: asyncio.Event) -> None:
        # Rows live from parse to commit: a larger young generation scans each about once
        # (gcpolicy.py says why and what it measured).
        with ingest_gc():
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        s = self.settings
        async with MqttClient(
            s.mqtt,
            client_id=s.ingest.client_id,
            manual_ack=True,  # PUBACK only after commit; bounds what the broker pushes at us
            receive_maximum=s.ingest.receive_maximum,
        ) as mqtt:
            self.mqtt = mqtt
            mqtt.subscribe(shared_events_subscription(s.ingest.share_group))
            mqtt.subscribe(status_subscription(s.ingest.share_group))
            # Two stages: the next group is parsed (Python, this thread) while the previous
            # one commits (database driver, its own thread). One writer, so statuses and
            # batches never interleave inside a transaction.
            nxt = _NextGroup(s.ingest.max_messages_per_commit)
            writer = asyncio.create_task(self._write_stage(mqtt, nxt, stop))
            try:
                while not stop.is_set() and not writer.done():
                    if nxt.room() <= 0:  # the next group is full: wait for the writer
                        room = asyncio.ensure_future(nxt.wait_room())
                        await asyncio.wait({room, writer}, return_when=asyncio.FIRST_COMPLETED)
                        if not room.done():  # the writer died: stop feeding it
                            room.cancel()
                        continue
                    batch = await self._next_messages(mqtt, stop, nxt.room())
                    for a in range(0, len(batch), PARSE_CHUNK):
                        if a:  # a turn of the loop between chunks
                            await asyncio.sleep(0)
                        last = a + PARSE_CHUNK >= len(batch)
                        nxt.add(self._parse(batch[a : a + PARSE_CHUNK]), done=last)
            finally:
                nxt.close()
                await writer
                self.mqtt = None

    async def _next_messages(
        self, mqtt: MqttClient, stop: asyncio.Event, limit: int
    ) -> list[Message]:
        getter = asyncio.ensure_future(mqtt.messages.get())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        if not getter.done() or getter.cancelled():
            return []
        batch = [getter.result()]
        while len(batch) < limit and not mqtt.messages.empty():
            batch.append(mqtt.messages.get_nowait())
        return batch

    def _parse(self, messages: list[Message]) -> _Parsed:
        tz = self.settings.pes.tz
        received = now_ms()
        units: list[ParsedMessage] = []
        statuses: list[StatusRow] = []
        for m in messages:
            try:
                _, kind = device_from_topic(m.topic)
            except PesError:
                kind = "events"  # parse_batch quarantines the bad topic
            if kind == "status":
                if (row := _parse_status(m)) is not None:
                    statuses.append(row)
            else:
                units.append(
                    parse_batch(
                        m.topic, m.payload, m.content_type, received, tz, fast=self.fast_parse
                    )
                )
        return _Parsed(messages, units, statuses, received)

    async def _write_stage(self, mqtt: MqttClient, nxt: _NextGroup, stop: asyncio.Event) -> None:
        try:
            while (item := await nxt.take()) is not None:
                await self._handle(mqtt, item, stop)
        finally:
            await self._acks_delivered()

    async def _handle(self, mqtt: MqttClient, item: _Parsed, stop: asyncio.Event) -> None:
        """One transaction for the group's batches and statuses, then the app acks, then the
        PUBACKs: nothing is acknowledged before it is committed. The broker's PUBACKs of the
        app acks are waited for beside the next commits, not before them."""
        units, received = item.units, item.received_ms
        attempt = 0
        while units or item.statuses:
            try:
                t0 = time.perf_counter()
                counts = await self.store.write(units, received, item.statuses)
                self.counters.last_commit_s = time.perf_counter() - t0
                self.metrics.commit_seconds.observe(self.counters.last_commit_s)
                break
            except (StoreUnavailable, StoreError) as exc:
                # Not acked, so nothing is lost: retry; the broker keeps the messages meanwhile.
                self.counters.store_errors += 1
                log.error("store write failed (attempt %d): %s", attempt + 1, exc)
                if await sleep_unless(stop, self._store_backoff.delay(attempt)):
                    return
                attempt += 1
        else:
            counts = []
        if units:
            self._count(units, counts)
        with mqtt.burst():
            if units:
                self._send_acks(mqtt, units, counts)
            for m in item.messages:
                mqtt.ack(m)

    def _count(self, units: list[ParsedMessage], counts: list[WriteCounts]) -> None:
        c = self.counters
        c.messages += len(units)
        c.commits += 1
        oldest = min((min(map(_TS, u.events)) for u in units if u.events), default=None)
        if oldest is not None:
            c.last_lag_s = max(0.0, (now_ms() - oldest) / 1000)
        for unit, n in zip(units, counts, strict=True):
            c.stored += n.stored
            c.duplicates += n.duplicates
            c.quarantined += n.quarantined
            for q in unit.quarantined:
                c.quarantine_reasons[q.reason] += 1

    def _send_acks(
        self, mqtt: MqttClient, units: list[ParsedMessage], counts: list[WriteCounts]
    ) -> None:
        """All of a commit's acks handed to the client at once; their delivery is awaited by
        `_acks_delivered`, so the writer goes on to the next commit meanwhile."""
        sent_ms = now_ms()
        acks = [
            (ack_topic(unit.ack.device_id), _ack_payload(unit.ack, n, sent_ms))
            for unit, n in zip(units, counts, strict=True)
            if unit.ack is not None
        ]
        if acks:
            queued = mqtt.queue_many(acks, content_type=_ACK_CTYPE)
            # Bounded: each wait ends within its 5 s timeout.
            task = asyncio.create_task(self._count_failed(mqtt.published(queued, 5)))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)

    async def _acks_delivered(self) -> None:
        await asyncio.gather(*self._acks)

    async def _count_failed(self, outcomes: Awaitable[list[int | PublishFailed]]) -> None:
        for res in await outcomes:
            if isinstance(res, PublishFailed):
                # The agent resends after its ack timeout; dedup makes that harmless.
                self.counters.acks_failed += 1
                log.warning("ack not delivered: %s", res)


_ACK_CTYPE = codec.CONTENT_JSON  # acks are small: never compressed


def _ack_payload(target: AckTarget, n: WriteCounts, sent_ms: int) -> bytes:
    ack = Ack(
        stream_id=target.stream_id,
        first_seq=target.first_seq,
        last_seq=target.last_seq,
        stored=n.stored,
        duplicates=n.duplicates,
        quarantined=n.quarantined,
        collector_ms=sent_ms,
    )
    return codec.dumps(ack.model_dump())


def _parse_status(m: Message) -> StatusRow | None:
    """An agent's retained status, checked against its topic; None (logged) if unusable."""
    try:
        device, _ = device_from_topic(m.topic)
        if not m.payload:
            return None  # a cleared retained message
        status = AgentStatus.model_validate(codec.decode(m.payload, m.content_type))
    except (PesError, ValueError) as exc:
        log.warning("bad status message on %s: %s", m.topic[:200], exc)
        return None
    if status.device_id != device:
        log.warning("status for %s on %s's topic ignored", status.device_id, device)
        return None
    return device, status.model_dump()
