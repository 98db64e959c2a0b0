"""The running agent: intake (record, local socket) -> group commit -> buffer -> publisher ->
MQTT, plus automatic sessions, retained status and optional metrics.

    async with Agent(settings) as agent:
        event_id = await agent.record("feature_use", "calibrate")

record() answers only after the event is committed to the buffer (fsync'd). Concurrent calls,
and all socket clients, are written together (agent/writer.py: group commit). This module: the
lifecycle; intake (record, record_many, socket lines) is in agent/intake.py, firmware, drain,
stats, status and remote configuration are in agent/manage.py (mixins).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Mapping
from typing import Any

from agent import firmware as fw
from agent.aio import wait_any
from agent.buffer import Appended, Buffer
from agent.errors import (
    AgentPermanentError,
    AgentStopped,
)
from agent.events import (
    Factory,
)
from agent.ids import mono_ms
from agent.intake import Intake
from agent.manage import FIRMWARE_META_KEY, Managed
from agent.metrics import MetricsServer
from agent.publisher import IDLE_POLL_S, Publisher
from agent.remote import RemoteConfig
from agent.sessions import META_KEY, Sessions
from agent.settings import AgentSettings
from agent.sock import SocketServer
from agent.status import status_payload
from agent.writer import GroupWriter
from shared.errors import PesError
from shared.mqtt import MqttClient
from shared.topics import (
    ack_topic,
    device_config_topic,
    device_type_config_topic,
    fleet_config_topic,
    status_topic,
)

log = logging.getLogger(__name__)

MAX_EVENTS_PER_COMMIT = 5000  # with the WAL's share of the limit, bounds one transaction
SWITCH_INTERVAL_S = 0.0005
UNLIMITED_COMMIT_BYTES = 4 * 1024 * 1024
SHUTDOWN_GRACE_S = 5.0


class Agent(Managed, Intake):
    """Async context manager; nothing touches the disk or the network before __aenter__."""

    def __init__(self, settings: AgentSettings, *, idle_poll_s: float = IDLE_POLL_S) -> None:
        self.settings = settings
        self._idle_poll_s = idle_poll_s
        self._buffer: Buffer | None = None
        self._mqtt: MqttClient | None = None
        self._publisher: Publisher | None = None
        self._writer: GroupWriter | None = None
        self._socket: SocketServer | None = None
        self._metrics: MetricsServer | None = None
        self._sessions = Sessions(settings.session_idle_s, auto=settings.auto_sessions)
        # The firmware version is read from its source (if any) in __aenter__, not here.
        self._factory = Factory(settings, firmware=settings.firmware_version or "")
        self._mono_clock = self._factory.mono_clock
        self._session_wake = asyncio.Event()
        self._stream_id = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._writer_task: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._accepting = False
        self._closing = False
        self.collection = settings.collection  # "off": consent withdrawn, nothing new stored
        self.statuses_published = 0  # "online" statuses, by the status loop
        self._remote = RemoteConfig(settings)
        self._config_topics = {
            fleet_config_topic(): "fleet",
            device_type_config_topic(settings.device_type): "type",
            device_config_topic(settings.device_id): "device",
        }
        self.sample_rate = settings.feature_sample_rate
        self.sampled_out = 0  # feature_use events answered but not stored (sampling)
        self._rng = random.Random()
        self._stop = asyncio.Event()
        self.failed = asyncio.Event()  # a background task died of a bug; see `failure`
        self.failure: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> Agent:
        if self._stop.is_set() or self._buffer is not None:
            raise AgentPermanentError("an Agent runs once: make a new one to start again")
        s = self.settings
        # The buffer's transactions run on a thread that gives up the GIL for each SQLite call
        # (fsync); with the default 5 ms switch interval a busy event loop makes it wait that
        # long to get it back, every time. Lowering it only ever makes hand-offs quicker.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        buffer = Buffer(
            s.buffer_path,
            max_bytes=s.max_buffer_bytes,
            overflow=s.overflow,
            min_free_bytes=s.min_free_bytes,
        )
        await asyncio.to_thread(buffer.open)
        try:
            version, warning = await asyncio.to_thread(fw.initial, s)
            if warning:
                log.warning("%s", warning)
            self._factory.firmware_version = version
            await asyncio.to_thread(buffer.set_meta, FIRMWARE_META_KEY, version)
            leftover = (await asyncio.to_thread(buffer.meta)).get(META_KEY)
            offline = status_payload(s.device_id, "offline", {})
            mqtt = MqttClient(
                s.mqtt, client_id=s.device_id, will=(status_topic(s.device_id), offline)
            )
            # Subscribed before the client starts: it then subscribes inside every on_connect,
            # before the connection is reported, so no ack can arrive unheard.
            mqtt.subscribe(ack_topic(s.device_id), qos=1)
            for topic in self._config_topics:  # retained: delivered on every (re)subscribe
                mqtt.subscribe(topic, qos=1)
            await mqtt.__aenter__()
        except BaseException:
            await asyncio.to_thread(buffer.close)
            raise
        self._buffer, self._mqtt, self._stream_id = buffer, mqtt, buffer.stream_id
        self._publisher = Publisher(buffer, mqtt, s, idle_poll_s=self._idle_poll_s)
        commit_bytes = buffer.budget.commit_bytes if buffer.budget else UNLIMITED_COMMIT_BYTES
        self._writer = GroupWriter(
            buffer,
            max_events=MAX_EVENTS_PER_COMMIT,
            max_bytes=commit_bytes,
            meta=self._commit_meta,
            on_commit=self._committed,
        )
        self._accepting = True
        self._writer_task = self._spawn(self._writer.run(), "writer")
        self._spawn(self._publisher.run(), "publisher")
        self._receiver = self._spawn(self._receive_loop(), "acks")
        self._spawn(self._status_loop(), "status")
        self._spawn(self._session_loop(), "sessions")
        recovered = self._sessions.recover(leftover)
        if recovered and self.collection == "off":
            log.info("collection is off: not closing %d session(s) of the previous run",
                     len(recovered))  # fmt: skip
        elif recovered:  # a previous run crashed with sessions open: close them now
            log.info("closing %d session(s) left open by the previous run", len(recovered))
            self._submit_internal(recovered)
        try:
            if s.socket_enabled:
                self._socket = SocketServer(
                    s.socket_file,
                    prepare=self._prepare_lines,
                    submit=self._writer.submit,
                    mode=s.socket_mode,
                    max_line=s.socket_max_line_bytes,
                    max_clients=s.socket_max_clients,
                    max_submission_bytes=commit_bytes // 2,
                )
                await self._socket.start()
            if s.metrics_port is not None:
                self._metrics = MetricsServer(s.metrics_host, s.metrics_port, self.metrics_text)
                await self._metrics.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, *, flush_timeout: float = 0.0) -> None:
        """Stop intake (the socket answers what it has received), close open automatic
        sessions, commit what was accepted, optionally wait `flush_timeout` seconds for the
        buffer to drain, then say offline and disconnect. Unsent events stay buffered."""
        if self._buffer is None or self._closing:
            return
        self._closing = True
        if self._socket is not None:
            await self._socket.stop(SHUTDOWN_GRACE_S)
        if self._metrics is not None:
            await self._metrics.stop()
        if self._writer is not None and self._accepting and self.collection == "on":
            closing = self._sessions.close_all()
            if closing:
                self._submit_internal(closing)
        self.stop_intake()
        if self._writer_task is not None:
            await asyncio.wait({self._writer_task}, timeout=SHUTDOWN_GRACE_S)
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
        if self._writer is not None:  # only if its task was cancelled above (a stalled commit)
            self._writer.fail_pending(AgentStopped("agent stopped before the event was stored"))
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
        """Refuse new events; those already accepted are still committed."""
        self._accepting = False
        if self._writer is not None:
            self._writer.close()

    def _commit_meta(self) -> Mapping[str, str] | None:
        # Taken when a transaction is cut: the open sessions as of its last event.
        return {META_KEY: self._sessions.snapshot()} if self._sessions.dirty else None

    def _committed(self, res: Appended) -> None:
        if self._publisher is not None:
            self._publisher.poke()

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

    async def _session_loop(self) -> None:
        """Ends automatic sessions that have been idle for session_idle_s."""
        while not self._stop.is_set():
            self._session_wake.clear()
            due = self._sessions.next_expiry_ms()
            wait = 3600.0 if due is None else max(0.0, (due - mono_ms()) / 1000) + 0.01
            await wait_any(self._session_wake, self._stop, timeout=wait)
            if self._stop.is_set() or not self._accepting:
                return
            ended = self._sessions.expire()
            if ended:
                self._submit_internal(ended)
