"""The running agent as seen and steered from outside: firmware reloads, drain and stats,
retained status (on change, with a heartbeat), and remote configuration from the collector.

A mixin of agent.agent.Agent (the lifecycle and intake are there); it declares the Agent's
state it reads, and imports nothing of agent.agent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Literal

from agent import firmware as fw
from agent.aio import wait_any
from agent.buffer import Buffer
from agent.errors import AgentStopped
from agent.events import Factory
from agent.publisher import Publisher, PublisherStats
from agent.remote import RemoteConfig
from agent.sessions import Sessions
from agent.settings import AgentSettings
from agent.sock import SocketServer, SocketStats
from agent.status import State, buffer_snapshot, status_payload
from agent.telemetry import AgentStats, metric_samples
from agent.writer import GroupWriter, WriterStats
from shared import codec
from shared.errors import PesError
from shared.mqtt import MqttClient
from shared.retry import sleep_unless
from shared.topics import ack_topic, status_topic

log = logging.getLogger(__name__)

STATUS_POLL_S = 1.0  # how soon a reconnect is followed by a fresh "online" status
FIRMWARE_META_KEY = "firmware_version"  # the version new events get, for `pes-agent status`


class Managed:
    """Agent's firmware, observation, status and remote-configuration methods."""

    settings: AgentSettings
    collection: Literal["on", "off"]
    sample_rate: float
    statuses_published: int
    _buffer: Buffer | None
    _mqtt: MqttClient | None
    _publisher: Publisher | None
    _writer: GroupWriter | None
    _socket: SocketServer | None
    _factory: Factory
    _sessions: Sessions
    _remote: RemoteConfig
    _config_topics: dict[str, str]
    _stop: asyncio.Event
    _closing: bool
    _stream_id: str

    # -- firmware ----------------------------------------------------------------------------
    @property
    def firmware_version(self) -> str:
        """The version new events are recorded under."""
        return self._factory.firmware_version

    async def reload_firmware(self) -> str:
        """Read the firmware version from firmware_file / firmware_command again (SIGHUP does
        this in `pes-agent run`) and record new events under it; return it. Events recorded
        before keep the version they were recorded under (it is in each stored event). If the
        source cannot be read the current version stays and ConfigError says why."""
        buffer = self._buffer
        if buffer is None or self._closing:
            raise AgentStopped("agent is not running")
        if not fw.has_source(self.settings):
            return self._factory.firmware_version
        version = await asyncio.to_thread(fw.read_source, self.settings)
        old = self._factory.firmware_version
        if version != old:
            # One assignment on the event loop: every event built from here on has it, every
            # event built before (even if not yet committed) keeps the old one.
            self._factory.firmware_version = version
            log.info("firmware_version %s -> %s", old, version)
            await asyncio.to_thread(buffer.set_meta, FIRMWARE_META_KEY, version)
        return version

    # -- drain / observe ---------------------------------------------------------------------
    async def flush(self, timeout: float) -> bool:
        """Wait until the buffer is empty (everything acked); False if `timeout` passes first.
        Re-checks at least every second: another process may append to or drain the buffer."""
        buffer, publisher, writer = self._buffer, self._publisher, self._writer
        if buffer is None or publisher is None or writer is None:
            raise AgentStopped("agent is not running")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if writer.idle and await asyncio.to_thread(buffer.depth) == 0:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await publisher.wait_progress(min(remaining, 1.0))

    def stats(self) -> AgentStats:
        pub, w = self._publisher, self._writer
        return AgentStats(
            recorded=w.stats.stored if w else 0,
            commits=w.stats.commits if w else 0,
            connected=self._mqtt is not None and self._mqtt.connected.is_set(),
            inflight=pub.inflight if pub else 0,
            stream_id=self._stream_id,
            publisher=replace(pub.stats) if pub else PublisherStats(),
            writer=replace(w.stats) if w else WriterStats(),
            socket=replace(self._socket.stats) if self._socket else SocketStats(),
            sessions_open=self._sessions.open_count,
        )

    async def snapshot(self) -> dict[str, Any]:
        """The buffer's state (agent/status.py) plus this process's view."""
        buffer = self._buffer
        if buffer is None:
            raise AgentStopped("agent is not running")
        snap = await asyncio.to_thread(buffer_snapshot, buffer)
        st = self.stats()
        snap |= {
            "device_id": self.settings.device_id,
            "connected": st.connected,
            "firmware_version": self._factory.firmware_version,
            "collection": self.collection,
            "config_version": self._remote.version,
            "config_error": self._remote.error,
        }
        if snap["last_ack_ms"] is None:
            snap["last_ack_ms"] = st.publisher.last_ack_ms
        return snap

    async def metrics_text(self) -> str:
        return metric_samples(self.settings.device_id, await self.snapshot(), self.stats())

    # -- background: acks and remote configuration, status --------------------------------
    async def _receive_loop(self) -> None:
        assert self._mqtt is not None and self._publisher is not None
        acks, queue = ack_topic(self.settings.device_id), self._mqtt.messages
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 256:
                batch.append(queue.get_nowait())  # arrived together: applied together
            for m in batch:
                level = self._config_topics.get(m.topic)
                if level is not None:
                    self._on_config(level, m.payload)
            mine = [(m.payload, m.content_type) for m in batch if m.topic == acks]
            if not mine:
                continue
            try:
                await self._publisher.on_acks(mine)
            except PesError as exc:  # e.g. buffer busy: the batch is resent and acked again
                log.warning("could not apply ack: %s", exc)

    def _on_config(self, level: str, payload: bytes) -> None:
        """A retained configuration message: apply the merged run-time-safe values."""
        if not self._remote.receive(level, payload):
            if self._remote.error:
                log.warning("remote configuration refused: %s", self._remote.error)
            return
        values = self._remote.effective()
        for key, value in values.items():
            setattr(self.settings, key, value)  # the publisher and status loop read them
        self.collection = values["collection"]
        self.sample_rate = values["feature_sample_rate"]
        if self._publisher is not None:
            self._publisher.set_drain_rate(values["drain_rate_eps"])
        log.info("remote configuration %s applied: %s", self._remote.version, values)

    def _status_key(self) -> tuple[object, ...]:
        """What makes a status worth publishing before the heartbeat is due (no buffer read)."""
        w = self._writer.stats if self._writer else None
        return (
            self.collection,
            self._factory.firmware_version,
            w.dropped if w else 0,
            w.rejected if w else 0,
            self._writer.failing if self._writer else False,
            self._remote.version,
            self._remote.error,
        )

    async def _status_loop(self) -> None:
        """ "online" on every new connection (the will may have said offline) and whenever
        _status_key changes (at most every status_min_interval_s), else every
        status_interval_s (the heartbeat), until stopped."""
        mqtt = self._mqtt
        assert mqtt is not None
        s = self.settings
        loop = asyncio.get_running_loop()
        last_epoch, last_key, last_at = -1, self._status_key(), -1e9
        while not self._stop.is_set():
            if not mqtt.connected.is_set():
                await wait_any(mqtt.connected, self._stop)
                continue
            now, key = loop.time(), self._status_key()
            changed = key != last_key and now >= last_at + s.status_min_interval_s
            if mqtt.epoch != last_epoch or changed or now >= last_at + s.status_interval_s:
                try:
                    await self._publish_status("online")
                    last_epoch, last_key, last_at = mqtt.epoch, key, now
                    self.statuses_published += 1
                except PesError as exc:
                    log.warning("status not published: %s", exc)
            await sleep_unless(self._stop, STATUS_POLL_S)

    async def _publish_status(self, state: State, *, timeout: float = 10.0) -> None:
        mqtt, buffer = self._mqtt, self._buffer
        if mqtt is None or buffer is None or not mqtt.connected.is_set():
            return
        payload = status_payload(self.settings.device_id, state, await self.snapshot())
        topic = status_topic(self.settings.device_id)
        await mqtt.publish(
            topic, payload, retain=True, content_type=codec.CONTENT_JSON, timeout=timeout
        )
