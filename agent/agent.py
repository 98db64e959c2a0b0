"""The running agent: intake (record) -> buffer -> publisher -> MQTT, plus retained status.

    async with Agent(settings) as agent:
        event_id = await agent.record("feature_use", "calibrate")

record() answers only after the event is committed to the buffer (fsync'd). Concurrent calls
are written together: while one transaction commits, the next calls queue up and go into the
next transaction (group commit), so throughput grows with concurrency instead of being one
fsync per event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from agent import __version__
from agent.aio import wait_any
from agent.buffer import Buffer
from agent.errors import AgentError, AgentStopped
from agent.events import make_event
from agent.publisher import IDLE_POLL_S, Publisher, PublisherStats
from agent.settings import AgentSettings
from shared import codec
from shared.errors import PesError
from shared.models import AgentStatus
from shared.mqtt import MqttClient
from shared.retry import sleep_unless
from shared.topics import ack_topic, status_topic

log = logging.getLogger(__name__)

MAX_EVENTS_PER_COMMIT = 1000  # bounds one transaction's latency under a burst
STATUS_POLL_S = 1.0  # how soon a reconnect is followed by a fresh "online" status
SHUTDOWN_GRACE_S = 5.0

_State = Literal["online", "offline"]


@dataclass(frozen=True, slots=True)
class AgentStats:
    recorded: int  # events committed to the buffer by record()
    commits: int  # transactions that wrote them
    connected: bool
    inflight: int  # batches sent and not yet acked
    stream_id: str
    publisher: PublisherStats


class Agent:
    """Async context manager; nothing touches the disk or the network before __aenter__."""

    def __init__(self, settings: AgentSettings, *, idle_poll_s: float = IDLE_POLL_S) -> None:
        self.settings = settings
        self._idle_poll_s = idle_poll_s
        self._buffer: Buffer | None = None
        self._mqtt: MqttClient | None = None
        self._publisher: Publisher | None = None
        self._stream_id = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._writing: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._unwritten = 0  # accepted by record() and not yet committed (pending or writing)
        self._pending_set = asyncio.Event()
        self._accepting = False
        self._closing = False
        self._stop = asyncio.Event()
        self._recorded = 0
        self._commits = 0
        self.failed = asyncio.Event()  # a background task died of a bug; see `failure`
        self.failure: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> Agent:
        if self._stop.is_set() or self._buffer is not None:
            raise AgentError("an Agent runs once: make a new one to start again")
        s = self.settings
        buffer = Buffer(s.buffer_path)
        await asyncio.to_thread(buffer.open)
        offline = self._status_payload("offline")
        mqtt = MqttClient(s.mqtt, client_id=s.device_id, will=(status_topic(s.device_id), offline))
        # Subscribed before the client starts: it then subscribes inside every on_connect,
        # before the connection is reported, so no ack can arrive unheard.
        mqtt.subscribe(ack_topic(s.device_id), qos=1)
        try:
            await mqtt.__aenter__()
        except BaseException:
            buffer.close()
            raise
        self._buffer, self._mqtt, self._stream_id = buffer, mqtt, buffer.stream_id
        self._publisher = Publisher(buffer, mqtt, s, idle_poll_s=self._idle_poll_s)
        self._accepting = True  # before the writer starts: it exits once intake is closed
        self._writer = self._spawn(self._write_loop(), "writer")
        self._spawn(self._publisher.run(), "publisher")
        self._receiver = self._spawn(self._receive_loop(), "acks")
        self._spawn(self._status_loop(), "status")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, *, flush_timeout: float = 0.0) -> None:
        """Stop intake, commit what was accepted, optionally wait `flush_timeout` seconds for
        the buffer to drain, then say offline and disconnect. Unsent events stay buffered."""
        if self._buffer is None or self._closing:
            return
        self._closing = True
        self.stop_intake()
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=SHUTDOWN_GRACE_S)
        if flush_timeout > 0:
            await self.flush(flush_timeout)
        self._stop.set()
        if self._publisher is not None:
            self._publisher.stop()
        if self._receiver is not None:
            self._receiver.cancel()  # it only waits on the message queue
        tasks, self._tasks = self._tasks, []
        if tasks:
            # The other loops end on the stop event; a publish stuck waiting for its PUBACK
            # gets a grace period, then is cancelled (its events are still in the buffer).
            _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
            for t in late:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # Only if the writer was cancelled above (a commit stalled past the grace period):
        # its callers must not wait forever. Those in `_writing` may in fact have been stored.
        for _, fut in (*self._writing, *self._pending):
            if not fut.done():
                fut.set_exception(AgentStopped("agent stopped before the event was confirmed"))
        self._pending.clear()
        try:
            await self._publish_status("offline", timeout=2.0)  # a clean disconnect skips the will
        except PesError as exc:
            log.info("could not publish offline status: %s", exc)
        buffer, mqtt = self._buffer, self._mqtt
        self._buffer = self._mqtt = None  # the publisher stays: its stats outlive the run
        try:
            if mqtt is not None:
                await mqtt.__aexit__(None, None, None)
        finally:
            await asyncio.to_thread(buffer.close)

    def stop_intake(self) -> None:
        """Refuse new record() calls; those already accepted are still committed."""
        self._accepting = False
        self._pending_set.set()

    # -- intake ------------------------------------------------------------------------------
    async def record(
        self,
        kind: str,
        feature: str | None = None,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        props: Mapping[str, Any] | None = None,
        ts_ms: int | None = None,
        device_type: str | None = None,
        firmware_version: str | None = None,
        account_id: str | None = None,
    ) -> str:
        """Validate and durably store one event; return its id once it is committed.

        Raises InvalidEvent (nothing stored), AgentStopped, or BufferUnavailable. Cancelling the
        caller does not un-record an event already handed to the writer."""
        if not self._accepting:
            raise AgentStopped("agent is not running: use `async with Agent(settings)`")
        event = make_event(
            self.settings,
            kind,
            feature,
            session_id=session_id,
            user_id=user_id,
            labels=labels,
            props=props,
            ts_ms=ts_ms,
            device_type=device_type,
            firmware_version=firmware_version,
            account_id=account_id,
        )
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((event, done))
        self._unwritten += 1
        self._pending_set.set()
        await done
        return str(event["id"])

    async def _write_loop(self) -> None:
        assert self._buffer is not None and self._publisher is not None
        while True:
            if not self._pending:
                if not self._accepting:
                    return
                self._pending_set.clear()
                await self._pending_set.wait()
                continue
            group = self._writing = self._pending[:MAX_EVENTS_PER_COMMIT]
            del self._pending[:MAX_EVENTS_PER_COMMIT]
            try:
                seqs = await asyncio.to_thread(self._buffer.append_many, [e for e, _ in group])
            except Exception as exc:  # the callers get the error; the writer lives on
                if not isinstance(exc, PesError):
                    log.error("buffer write failed", exc_info=exc)
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            finally:
                self._unwritten -= len(group)
                self._writing = []
            for (_, fut), seq in zip(group, seqs, strict=True):
                if not fut.done():
                    fut.set_result(seq)
            self._recorded += len(group)
            self._commits += 1
            self._publisher.poke()

    # -- drain / observe ---------------------------------------------------------------------
    async def flush(self, timeout: float) -> bool:
        """Wait until the buffer is empty (everything acked); False if `timeout` passes first.
        Re-checks at least every second: another process may append to or drain the buffer."""
        buffer, publisher = self._buffer, self._publisher
        if buffer is None or publisher is None:
            raise AgentStopped("agent is not running")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self._unwritten and await asyncio.to_thread(buffer.depth) == 0:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await publisher.wait_progress(min(remaining, 1.0))

    def stats(self) -> AgentStats:
        pub = self._publisher
        return AgentStats(
            recorded=self._recorded,
            commits=self._commits,
            connected=self._mqtt is not None and self._mqtt.connected.is_set(),
            inflight=pub.inflight if pub else 0,
            stream_id=self._stream_id,
            publisher=replace(pub.stats) if pub else PublisherStats(),
        )

    # -- background loops --------------------------------------------------------------------
    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"pes-agent-{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # Only a bug gets here (the loops handle every PesError); make it loud and visible.
        self.failure = task.exception()
        log.error("agent task %s died", task.get_name(), exc_info=self.failure)
        self.failed.set()

    async def _receive_loop(self) -> None:
        assert self._mqtt is not None and self._publisher is not None
        acks = ack_topic(self.settings.device_id)
        while True:
            msg = await self._mqtt.messages.get()
            if msg.topic != acks:
                continue
            try:
                await self._publisher.on_ack(msg.payload, msg.content_type)
            except PesError as exc:  # e.g. buffer busy: the batch is resent and acked again
                log.warning("could not apply ack: %s", exc)

    async def _status_loop(self) -> None:
        assert self._mqtt is not None
        mqtt, loop = self._mqtt, asyncio.get_running_loop()
        last_epoch, next_at = -1, 0.0
        while not self._stop.is_set():
            if not mqtt.connected.is_set():
                await wait_any(mqtt.connected, self._stop)
                continue
            # On every new connection (the will may have said offline) and then periodically.
            if mqtt.epoch != last_epoch or loop.time() >= next_at:
                try:
                    await self._publish_status("online")
                    last_epoch, next_at = mqtt.epoch, loop.time() + self.settings.status_interval_s
                except PesError as exc:
                    log.warning("status not published: %s", exc)
            await sleep_unless(self._stop, STATUS_POLL_S)

    async def _publish_status(self, state: _State, *, timeout: float = 10.0) -> None:
        mqtt, buffer = self._mqtt, self._buffer
        if mqtt is None or buffer is None or not mqtt.connected.is_set():
            return
        depth = await asyncio.to_thread(buffer.depth)
        oldest = await asyncio.to_thread(buffer.oldest)
        payload = self._status_payload(state, depth, oldest.ts_ms if oldest else None)
        topic = status_topic(self.settings.device_id)
        await mqtt.publish(
            topic, payload, retain=True, content_type=codec.CONTENT_JSON, timeout=timeout
        )

    def _status_payload(
        self, state: _State, depth: int = 0, oldest_ts_ms: int | None = None
    ) -> bytes:
        now_ms = time.time_ns() // 1_000_000
        pub = self._publisher
        status = AgentStatus(
            device_id=self.settings.device_id,
            state=state,
            version=__version__,
            buffer_depth=depth,
            oldest_age_s=None if oldest_ts_ms is None else max(0, now_ms - oldest_ts_ms) / 1000,
            last_ack_ms=pub.stats.last_ack_ms if pub else None,
            sent_ms=now_ms,
        )
        payload, _ = codec.encode(status.model_dump(mode="json"), compress=False)
        return payload
