"""The send loop: buffer -> batches -> MQTT, and acks -> deletes.

Events stay in the buffer until an ack covers them, so the publisher's own state is only a
cursor (the last seq sent on this connection) and the batches in flight. Losing that state is
always safe: on a new connection the cursor goes back to 0 and everything still in the buffer
is sent again (the collector stores each event once).

A batch is resent when its ack has not come within ack_timeout_s: it is re-read from the buffer
by its seq range (minus whatever an overlapping ack has deleted meanwhile) and published again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agent.aio import wait_any
from agent.buffer import Buffer
from agent.ids import boot_id, mono_ms
from agent.settings import AgentSettings
from shared import codec
from shared.errors import InvalidPayload, PesError, PublishFailed, RetryableError
from shared.models import Ack, Anchor, BatchHeader
from shared.mqtt import MqttClient
from shared.retry import Backoff, sleep_unless
from shared.topics import events_topic

log = logging.getLogger(__name__)

# Room left in batch_max_bytes for the header (ids, clocks and up to MAX_ANCHORS anchors), so
# that the whole uncompressed payload stays within batch_max_bytes.
HEADER_RESERVE_BYTES = 2048
MAX_ANCHORS = 8  # BatchHeader.anchors max_length
IDLE_POLL_S = 1.0  # catches events appended by another process (`pes-agent emit`)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    first_seq: int
    last_seq: int
    count: int
    payload: bytes
    content_type: str


def build_batch(
    rows: Sequence[tuple[int, str]],
    *,
    device_id: str,
    stream_id: str,
    anchors: Mapping[str, tuple[int, int]],
    boot: str,
    sent_ms: int,
    sent_mono: int,
) -> EncodedBatch:
    """Encode buffer rows (seq, body) as one batch; `rows` must be non-empty, oldest first.

    Events are not re-validated: they were validated when recorded, and the collector checks
    each one anyway (quarantining, and still acking, a bad one). Re-validating here could only
    turn one bad row into a stream that is stuck forever."""
    events: list[dict[str, Any]] = []
    boots: set[str] = set()
    for seq, body in rows:
        try:
            ev = json.loads(body)
        except ValueError:
            # Still sent, so the collector quarantines it and the loss is visible, not silent.
            ev = {"unreadable": body[:200]}
        ev["seq"] = seq
        if isinstance(ev.get("boot"), str):
            boots.add(ev["boot"])
        events.append(ev)
    # Anchors only for boots in this batch; the sender's own boot first, it matters most.
    wanted = sorted(boots & anchors.keys(), key=lambda b: (b != boot, b))[:MAX_ANCHORS]
    header = BatchHeader(
        device_id=device_id,
        stream_id=stream_id,
        first_seq=rows[0][0],
        last_seq=rows[-1][0],
        sent_ms=sent_ms,
        sent_mono=sent_mono,
        boot=boot,
        anchors=[Anchor(boot=b, mono=anchors[b][0], true_ms=anchors[b][1]) for b in wanted],
        drops=[],
    )
    doc = header.model_dump(mode="json")
    doc["events"] = events
    payload, content_type = codec.encode(doc)
    return EncodedBatch(rows[0][0], rows[-1][0], len(rows), payload, content_type)


@dataclass(slots=True)
class _Flight:
    """A batch published and not yet acked."""

    first: int
    last: int
    deadline: float  # loop.time() after which it is resent


@dataclass(slots=True)
class PublisherStats:
    batches_sent: int = 0
    batches_resent: int = 0
    events_sent: int = 0
    publish_failures: int = 0
    acks: int = 0
    acks_ignored: int = 0
    events_acked: int = 0  # rows deleted from the buffer by acks
    last_ack_ms: int | None = None  # collector clock of the latest ack


class Publisher:
    """Run with `await publisher.run()`; end with `publisher.stop()`. `poke()` after appending
    events; feed every message from the ack topic to `on_ack()`."""

    def __init__(
        self,
        buffer: Buffer,
        mqtt: MqttClient,
        settings: AgentSettings,
        *,
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self._buffer = buffer
        self._mqtt = mqtt
        self._s = settings
        self._idle_poll_s = idle_poll_s
        self._topic = events_topic(settings.device_id)
        self._budget = settings.batch_max_bytes - HEADER_RESERVE_BYTES
        self._publish_timeout = min(settings.ack_timeout_s, 30.0)
        self._backoff = Backoff(0.2, 5.0)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # new events, an ack, or stop
        self._progress = asyncio.Event()  # replaced after each ack; see wait_progress()
        self._inflight: list[_Flight] = []
        self._cursor = 0  # highest seq sent on this connection
        self._epoch = -1  # MqttClient.epoch the cursor belongs to
        self._linger_until: float | None = None
        self._anchors: dict[str, tuple[int, int]] = {}
        self.stats = PublisherStats()

    # -- control ----------------------------------------------------------------------------
    def poke(self) -> None:
        """New events are in the buffer: look now rather than at the next idle poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def wait_progress(self, timeout: float) -> None:
        """Return after the next ack is applied, or after `timeout` seconds."""
        await sleep_unless(self._progress, timeout)

    # -- send loop --------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        anchors_loaded = False
        while not self._stop.is_set():
            try:
                if not anchors_loaded:  # inside the try: a busy buffer is retried like the rest
                    stored = await asyncio.to_thread(self._buffer.anchors)
                    self._anchors = {**stored, **self._anchors}
                    anchors_loaded = True
                await self._step()
                attempt = 0
            except PesError as exc:
                # Never die on a broker or buffer hiccup: the events are safe in the buffer.
                if isinstance(exc, PublishFailed):
                    self.stats.publish_failures += 1
                level = logging.WARNING if isinstance(exc, RetryableError) else logging.ERROR
                log.log(level, "send failed, will retry: %s", exc)
                if await sleep_unless(self._stop, self._backoff.delay(attempt)):
                    break
                attempt += 1

    async def _step(self) -> None:
        self._wake.clear()  # before looking, so a poke during this step is not lost
        if not self._mqtt.connected.is_set():
            await self._wait_connected()
            return
        if self._mqtt.epoch != self._epoch:
            # A new connection (clean session): acks for what was in flight went nowhere.
            self._epoch = self._mqtt.epoch
            self._inflight.clear()
            self._cursor = 0
            self._linger_until = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        expired = next((f for f in self._inflight if f.deadline <= now), None)
        if expired is not None:
            await self._resend(expired)
            return
        if len(self._inflight) < self._s.window:
            rows, more = await asyncio.to_thread(self._read_next)
            if rows:
                if not more and self._should_linger(now):
                    assert self._linger_until is not None
                    await sleep_unless(self._stop, self._until(self._linger_until))
                    return
                self._linger_until = None
                await self._send(rows)
                return
        # Idle, or the window is full: wait for a poke, an ack, a deadline or the next poll.
        wait = self._idle_poll_s
        if self._inflight:
            wait = min(wait, self._until(min(f.deadline for f in self._inflight)))
        await sleep_unless(self._wake, wait)

    def _read_next(self) -> tuple[list[tuple[int, str]], bool]:
        """The next batch's rows, and whether more are waiting behind them (then don't linger)."""
        s = self._s
        rows = self._buffer.read_after(self._cursor, s.batch_max_events, self._budget)
        more = bool(rows) and (
            len(rows) >= s.batch_max_events or self._buffer.last_seq() > rows[-1][0]
        )
        return rows, more

    def _should_linger(self, now: float) -> bool:
        """A partial batch waits up to linger_ms from when it was first seen, to fill up."""
        if self._s.linger_ms <= 0:
            return False
        if self._linger_until is None:
            self._linger_until = now + self._s.linger_ms / 1000
        return now < self._linger_until

    async def _send(self, rows: list[tuple[int, str]]) -> None:
        batch = self._build(rows)
        flight = _Flight(batch.first_seq, batch.last_seq, self._deadline())
        # Registered before publishing: the ack may be handled before our PUBACK wait returns.
        self._inflight.append(flight)
        self._cursor = batch.last_seq
        try:
            await self._publish(batch)
        except BaseException:
            # Not sent: forget the flight and send these rows again as a new batch.
            self._drop(flight)
            self._cursor = min(self._cursor, flight.first - 1)
            raise
        self.stats.batches_sent += 1
        self.stats.events_sent += batch.count

    async def _resend(self, flight: _Flight) -> None:
        rows = await asyncio.to_thread(
            self._buffer.read_after,
            flight.first - 1,
            self._s.batch_max_events,
            self._budget,
            upto=flight.last,
        )
        if not rows:  # acked meanwhile by an overlapping ack
            self._drop(flight)
            return
        batch = self._build(rows)
        flight.first, flight.last = batch.first_seq, batch.last_seq
        flight.deadline = self._deadline()
        log.info("no ack for seqs %d-%d, sending again", batch.first_seq, batch.last_seq)
        await self._publish(batch)  # on failure the deadline has passed by the next try
        self.stats.batches_resent += 1

    async def _publish(self, batch: EncodedBatch) -> None:
        await self._mqtt.publish(
            self._topic,
            batch.payload,
            qos=1,
            content_type=batch.content_type,
            timeout=self._publish_timeout,
        )

    def _build(self, rows: list[tuple[int, str]]) -> EncodedBatch:
        return build_batch(
            rows,
            device_id=self._s.device_id,
            stream_id=self._buffer.stream_id,
            anchors=self._anchors,
            boot=boot_id(),
            sent_ms=time.time_ns() // 1_000_000,
            sent_mono=mono_ms(),
        )

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self._s.ack_timeout_s

    def _until(self, when: float) -> float:
        return max(0.0, when - asyncio.get_running_loop().time())

    def _drop(self, flight: _Flight) -> None:
        if flight in self._inflight:
            self._inflight.remove(flight)

    async def _wait_connected(self) -> None:
        await wait_any(self._mqtt.connected, self._stop)

    # -- acks -------------------------------------------------------------------------------
    async def on_ack(self, payload: bytes, content_type: str | None) -> None:
        """Apply an ack: delete its range, remember the anchor, free the window."""
        mono = mono_ms()  # as close to receipt as we get: the anchor's instant
        try:
            ack = Ack.model_validate(codec.decode(payload, content_type))
        except (InvalidPayload, ValidationError) as exc:
            self.stats.acks_ignored += 1
            log.warning("ignoring malformed ack: %s", str(exc).replace("\n", " ")[:300])
            return
        if ack.stream_id != self._buffer.stream_id:
            # An old buffer's stream (the file was recreated): nothing of ours to delete.
            self.stats.acks_ignored += 1
            log.info(
                "ignoring ack for stream %s (ours is %s)", ack.stream_id, self._buffer.stream_id
            )
            return
        boot = boot_id()
        # Deleted whether or not the range is in flight: after a resend the same range may be
        # acked twice, or a rewound cursor may have re-batched it differently.
        deleted = await asyncio.to_thread(
            self._buffer.delete_range,
            ack.first_seq,
            ack.last_seq,
            anchor=(boot, mono, ack.collector_ms),
        )
        self._anchors[boot] = (mono, ack.collector_ms)
        self._inflight = [
            f for f in self._inflight if not (ack.first_seq <= f.first and f.last <= ack.last_seq)
        ]
        self.stats.acks += 1
        self.stats.events_acked += deleted
        self.stats.last_ack_ms = ack.collector_ms
        self._wake.set()
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()
