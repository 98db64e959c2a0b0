"""The send loop: buffer -> batches -> MQTT, and acks -> deletes.

Events stay in the buffer until an ack covers them, so the publisher's own state is only a
cursor (the last seq sent on this connection) and the batches in flight. Losing that state is
always safe: on a new connection the cursor goes back to 0 and everything still in the buffer
is sent again (the collector stores each event once).

A batch is resent when its ack has not come within ack_timeout_s: it is re-read from the buffer
by its seq range (minus whatever an overlapping ack has deleted meanwhile) and published again.
Each further resend of the same batch waits twice as long (jittered, capped at RESEND_CAP_S),
and new batches start at the link's current level until acks come back in time: while the
collector cannot commit (its database is down) the broker keeps every copy queued for it, so
resending a full window every ack_timeout_s only buries the backlog under duplicates (see
docs/reliability.md, PostgreSQL restart). A new connection starts from level 0.

While no collector is subscribed (the broker answers a publish with "no matching subscribers"
and keeps no copy), one batch, the probe, is sent again on a short backoff; the others wait for
the first publish a collector hears (then all go at once). Before, every batch of the window
was re-read, rebuilt and sent on its own backoff: ~12 batches a second of pointless upload and
~8% of a core for as long as the collector was away (flights.Probe).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence

from agent.aio import wait_any
from agent.batch import (
    MAX_DROPS,
    EncodedBatch,
    TokenBucket,
    build_batch,
    events_budget,
)
from agent.buffer import Buffer
from agent.drops import Drop

# Re-exported: the publisher's public names as before the split (flights.py).
from agent.flights import RESEND_CAP_S as RESEND_CAP_S
from agent.flights import Probe, _Flight, decode_acks, due_unheard
from agent.flights import PublisherStats as PublisherStats
from agent.flights import resend_wait as resend_wait
from agent.ids import boot_id, mono_ms
from agent.settings import AgentSettings
from shared.errors import PesError, RetryableError
from shared.mqtt import NO_MATCHING_SUBSCRIBERS, MqttClient
from shared.retry import Backoff, sleep_unless
from shared.topics import events_topic

log = logging.getLogger(__name__)

IDLE_POLL_S = 1.0  # catches events appended by another process (`pes-agent emit`)


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
        self._publish_timeout = min(settings.ack_timeout_s, 30.0)
        self._backoff = Backoff(0.2, 5.0)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # new events, an ack, or stop
        self._progress = asyncio.Event()  # replaced after each ack; see wait_progress()
        self._inflight: list[_Flight] = []
        self._probe = Probe()  # the one batch asking again while nobody listens
        self._cursor = 0  # highest seq sent on this connection
        self._epoch = -1  # MqttClient.epoch the cursor belongs to
        self._linger_until: float | None = None
        self._anchors: dict[str, tuple[int, int]] = {}
        self._bucket: TokenBucket | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._failures = 0  # publishes failed in a row
        # Resend backoff level of the link: raised by resends, lowered by each ack of a batch
        # that was never resent (acks come in time again), 0 on a new connection.
        self._level = 0
        self.stats = PublisherStats()

    def set_drain_rate(self, rate: int) -> None:
        """A new drain_rate_eps (remote configuration): the bucket starts afresh, full."""
        if self._bucket is None and rate == 0:
            return
        now = self._now()
        self._bucket = TokenBucket(rate, max(rate, self._s.batch_max_events), now) if rate else None

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

    @property
    def resend_level(self) -> int:
        """The link's resend backoff level: 0 while acks come within ack_timeout_s."""
        return self._level

    async def wait_progress(self, timeout: float) -> None:
        """Return after the next ack is applied, or after `timeout` seconds."""
        await sleep_unless(self._progress, timeout)

    # -- send loop --------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        anchors_loaded = False
        rate = self._s.drain_rate_eps
        if rate:
            self._bucket = TokenBucket(rate, max(rate, self._s.batch_max_events), self._now())
        try:
            while not self._stop.is_set():
                try:
                    if not anchors_loaded:  # inside the try: a busy buffer is retried too
                        stored = await asyncio.to_thread(self._buffer.anchors)
                        self._anchors = {**stored, **self._anchors}
                        anchors_loaded = True
                    await self._step()
                    attempt = 0
                except PesError as exc:
                    # Never die on a broker or buffer hiccup: the events are safe in the buffer.
                    level = logging.WARNING if isinstance(exc, RetryableError) else logging.ERROR
                    log.log(level, "send failed, will retry: %s", exc)
                    if await sleep_unless(self._stop, self._backoff.delay(attempt)):
                        break
                    attempt += 1
        finally:
            # Publishes still waiting for their PUBACK: their events stay in the buffer.
            for task in list(self._publishing):
                task.cancel()
            await asyncio.gather(*self._publishing, return_exceptions=True)

    async def _step(self) -> None:
        self._wake.clear()  # before looking, so a poke during this step is not lost
        if not self._mqtt.connected.is_set():
            await self._wait_connected()
            return
        if self._mqtt.epoch != self._epoch:
            # A new connection (clean session): acks for what was in flight went nowhere.
            self._epoch = self._mqtt.epoch
            self._inflight.clear()
            self._probe.flight = None
            self._cursor = 0
            self._linger_until = None
            self._level = 0
        now = self._now()
        self._probe.hand_over(self._inflight, now)
        expired = next((f for f in self._inflight if f.deadline <= now), None)
        if expired is not None:
            await self._resend(expired)
            return
        if len(self._inflight) < self._s.window:
            batch, more = await asyncio.to_thread(self._next_batch)
            if batch is not None:
                if batch.count and not more and self._should_linger(now):
                    assert self._linger_until is not None
                    await sleep_unless(self._stop, self._until(self._linger_until))
                    return
                self._linger_until = None
                await self._throttle(batch.count)
                await self._send(batch)
                return
        # Idle, or the window is full: wait for a poke, an ack, a deadline or the next poll.
        wait = self._idle_poll_s
        if self._inflight:
            wait = min(wait, self._until(min(f.deadline for f in self._inflight)))
        await sleep_unless(self._wake, wait)

    def _next_batch(self) -> tuple[EncodedBatch | None, bool]:
        """(On a worker thread.) The next batch after the cursor, and whether more events are
        waiting behind it (then don't linger). With nothing to send but drop ranges not yet
        reported (more of them than one batch carries), a batch of just those."""
        s, buf = self._s, self._buffer
        drops = buf.pending_drops(MAX_DROPS)
        rows = buf.read_after(self._cursor, s.batch_max_events, self._events_budget(drops))
        if rows:
            more = len(rows) >= s.batch_max_events or buf.last_seq() > rows[-1][0]
            return self._build(rows, drops), more
        if drops and not self._inflight:
            d = drops[0]
            return self._build([], drops, (d.first, d.last)), False
        return None, False

    def _should_linger(self, now: float) -> bool:
        """A partial batch waits up to linger_ms from when it was first seen, to fill up."""
        if self._s.linger_ms <= 0:
            return False
        if self._linger_until is None:
            self._linger_until = now + self._s.linger_ms / 1000
        return now < self._linger_until

    async def _throttle(self, n: int) -> None:
        if self._bucket is None or n == 0:
            return
        wait = self._bucket.take(n, self._now())
        if wait > 0:
            self.stats.throttled_s += wait
            await sleep_unless(self._stop, wait)

    async def _send(self, batch: EncodedBatch) -> None:
        flight = _Flight(
            batch.first_seq, batch.last_seq, self._deadline(self._level), batch.drops,
            level=self._level, sent=self._now(),
        )  # fmt: skip
        # Registered before publishing: the ack may be handled before the PUBACK arrives.
        self._inflight.append(flight)
        self._cursor = max(self._cursor, batch.last_seq)
        self.stats.batches_sent += 1
        self.stats.events_sent += batch.count
        self._publish_in_background(flight, batch)

    def _publish_in_background(self, flight: _Flight, batch: EncodedBatch) -> None:
        """The PUBACK is waited for on the side, so the next batch is built meanwhile: a
        window of batches goes out back to back, not one broker round trip at a time."""
        task = asyncio.create_task(self._publish_flight(flight, batch))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish_flight(self, flight: _Flight, batch: EncodedBatch) -> None:
        try:
            code = await self._publish(batch)
        except PesError as exc:
            # Maybe not sent: send it again, from the buffer, after a short backoff (the
            # collector stores it once should both copies arrive).
            self.stats.publish_failures += 1
            log.warning("publish of seqs %d-%d failed: %s", flight.first, flight.last, exc)
            flight.deadline = self._now() + self._backoff.delay(self._failures)
            self._failures += 1
            self._wake.set()
            return
        self._failures = 0
        if code != NO_MATCHING_SUBSCRIBERS:
            flight.unheard, flight.lonely = False, 0
            self._probe.flight = None
            if due_unheard(self._inflight, self._now()):
                self._wake.set()
        else:
            # No collector was subscribed (say the broker restarted and they have not
            # reconnected yet): the batch went nowhere.
            self.stats.no_subscribers += 1
            flight.unheard = True
            if self._probe.asks(flight, self._inflight):
                # Sent again soon rather than after ack_timeout_s, backing off while nobody
                # listens; the backoff is the probe's own, so a window finding nobody does not
                # push it to the cap (it did: the drain then idled ~5 s after a collector came
                # back).
                delay = min(self._s.ack_timeout_s, self._backoff.delay(flight.lonely))
                flight.lonely += 1
                flight.deadline = min(flight.deadline, self._now() + delay)
            else:
                # The probe asks for all: this one goes when a publish is heard (due_unheard),
                # or takes over as the probe should that one be acked first (_step).
                flight.deadline = math.inf
            self._wake.set()

    async def _resend(self, flight: _Flight) -> None:
        def read() -> EncodedBatch | None:
            drops = self._buffer.pending_drops(MAX_DROPS)
            budget = self._events_budget(drops)
            rows = self._buffer.read_after(
                flight.first - 1, self._s.batch_max_events, budget, upto=flight.last
            )
            if rows:
                return self._build(rows, drops)
            if flight.drops and drops:  # a drops-only batch not acked yet
                return self._build([], drops, (flight.first, flight.last))
            return None

        batch = await asyncio.to_thread(read)
        if batch is None:  # acked meanwhile by an overlapping ack
            self._drop(flight)
            return
        rest = (batch.last_seq + 1, flight.last) if batch.count else None
        flight.first, flight.last = batch.first_seq, batch.last_seq
        flight.drops = batch.drops
        flight.resends += 1
        flight.unheard = False  # this copy may find a subscriber: wait for its PUBACK
        flight.level += 1
        self._level = max(self._level, flight.level)
        flight.deadline = self._deadline(flight.level)
        flight.sent = self._now()
        if rest is not None and rest[0] <= rest[1]:
            # Fewer rows fit than when it was first sent (the header has grown: an anchor, drop
            # ranges): the rest becomes a flight of its own, due now. The cursor is past it, so
            # it would otherwise wait in the buffer until the next reconnect.
            self._inflight.append(_Flight(rest[0], rest[1], self._now(), level=flight.level))
        log.info("no ack for seqs %d-%d, sending again (%d)", batch.first_seq, batch.last_seq,
                 flight.resends)  # fmt: skip
        self.stats.batches_resent += 1
        self._publish_in_background(flight, batch)

    async def _publish(self, batch: EncodedBatch) -> int:
        return await self._mqtt.publish(
            self._topic,
            batch.payload,
            qos=1,
            content_type=batch.content_type,
            timeout=self._publish_timeout,
        )

    def _build(
        self,
        rows: list[tuple[int, str]],
        drops: Sequence[Drop],
        span: tuple[int, int] | None = None,
    ) -> EncodedBatch:
        return build_batch(
            rows,
            device_id=self._s.device_id,
            stream_id=self._buffer.stream_id,
            anchors=dict(self._anchors),
            boot=boot_id(),
            sent_ms=time.time_ns() // 1_000_000,
            sent_mono=mono_ms(),
            drops=drops,
            first_seq=span[0] if span else None,
            last_seq=span[1] if span else None,
        )

    def _events_budget(self, drops: Sequence[Drop]) -> int:
        return events_budget(self._s.batch_max_bytes, len(self._anchors), len(drops))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _deadline(self, level: int) -> float:
        return self._now() + resend_wait(level, self._s.ack_timeout_s)

    def _until(self, when: float) -> float:
        return max(0.0, when - self._now())

    def _drop(self, flight: _Flight) -> None:
        if flight in self._inflight:
            self._inflight.remove(flight)

    async def _wait_connected(self) -> None:
        await wait_any(self._mqtt.connected, self._stop)

    def _resend_overtaken(self, acked: Sequence[_Flight]) -> None:
        """A later batch was acked while an earlier one has waited past ack_timeout_s: the
        earlier copy was lost (say with a killed collector's session), not queued behind a
        stalled collector (the broker delivers in order), so it is due now rather than at its
        backed-off deadline."""
        if not acked:
            return
        now, newest = self._now(), max(f.first for f in acked)
        for f in self._inflight:
            if f.last < newest and now - f.sent >= self._s.ack_timeout_s:
                f.deadline = min(f.deadline, now)

    # -- acks -------------------------------------------------------------------------------
    async def on_ack(self, payload: bytes, content_type: str | None) -> None:
        """Apply an ack: delete its range, forget the drops it reported, remember the anchor,
        free the window."""
        await self.on_acks([(payload, content_type)])

    async def on_acks(self, messages: Sequence[tuple[bytes, str | None]]) -> None:
        """Apply acks that arrived together in one buffer transaction (one fsync, not one per
        batch: while draining a backlog they come in bursts of up to `window`)."""
        mono = mono_ms()  # as close to receipt as we get: the anchor's instant
        acks = decode_acks(messages, self._buffer.stream_id, self.stats)
        if not acks:
            return
        boot = boot_id()
        latest = max(a.collector_ms for a in acks)
        ranges = [(a.first_seq, a.last_seq) for a in acks]
        covered = [
            f for f in self._inflight if any(a <= f.first and f.last <= b for a, b in ranges)
        ]
        reported = {d for f in covered for d in f.drops}
        # Deleted whether or not the range is in flight: after a resend the same range may be
        # acked twice, or a rewound cursor may have re-batched it differently.
        deleted = await asyncio.to_thread(
            self._buffer.ack,
            *ranges[0],
            anchor=(boot, mono, latest),
            reported=sorted(reported),
            last_ack_ms=latest,
            more=ranges[1:],
            # More than a batch not sent yet: a backlog draining (the file's space is returned
            # once it has drained, see Buffer.ack).
            backlog_after=self._cursor + self._s.batch_max_events,
        )
        self._anchors[boot] = (mono, latest)
        self._inflight = [f for f in self._inflight if f not in covered]
        if any(f.resends == 0 for f in covered):
            self._level = max(0, self._level - 1)
        self._resend_overtaken(covered)
        self.stats.acks += len(acks)
        self.stats.events_acked += deleted
        self.stats.last_ack_ms = latest
        self._wake.set()
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()
