"""The one bridge between paho-mqtt's network thread and asyncio.

`MqttClient` is an async context manager: nothing touches the network until `__aenter__`. A
dedicated thread connects, runs paho's loop and reconnects with capped, jittered backoff; it hands
results to the event loop with `call_soon_threadsafe` only. Publishes at QoS 1 complete when the
broker's PUBACK arrives (a future per message id). Incoming messages go to an asyncio queue; with
`manual_ack` their PUBACK waits for `ack()`, so the broker's receive window (MQTT 5 Receive
Maximum) bounds how much a slow consumer holds in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from shared.broker import BrokerSettings as BrokerSettings  # its home before the split
from shared.errors import BrokerUnavailable, PublishFailed
from shared.mqtt_io import Handoff, PahoClient
from shared.retry import Backoff

if TYPE_CHECKING:
    from shared.mqtt_settings import MqttSettings as MqttSettings

log = logging.getLogger(__name__)
# PUBACK reason code (MQTT 5): accepted, but no subscription matched the topic.
NO_MATCHING_SUBSCRIBERS = 16


def __getattr__(name: str) -> Any:
    # `from shared.mqtt import MqttSettings` keeps working, but imports pydantic only then.
    if name == "MqttSettings":
        from shared.mqtt_settings import MqttSettings

        return MqttSettings
    raise AttributeError(f"module 'shared.mqtt' has no attribute {name!r}")


# Publishes handed to the client by `queue_many`: (message id, PUBACK future) or why not.
Queued = list[tuple[int, asyncio.Future[int] | None] | PublishFailed]


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    mid: int
    content_type: str | None
    retain: bool


@dataclass(slots=True)
class _Will:
    topic: str
    payload: bytes
    retain: bool = True


@dataclass
class _Shared:
    """State touched by both threads; guarded by `lock`, which is never held while calling paho."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, asyncio.Future[int]] = field(default_factory=dict)
    early: dict[int, int] = field(default_factory=dict)  # mid -> PUBACK reason code


class MqttClient:
    def __init__(
        self,
        settings: BrokerSettings,
        *,
        client_id: str,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        will: tuple[str, bytes] | None = None,
        session_expiry_s: int = 0,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._manual_ack = manual_ack
        self._receive_maximum = receive_maximum
        self._will = _Will(*will) if will else None
        self._session_expiry_s = session_expiry_s
        self._backoff = Backoff(settings.reconnect_initial_s, settings.reconnect_max_s)
        self._subscriptions: dict[str, int] = {}
        # Guards _subscriptions against on_connect; separate from _shared.lock (held in
        # on_publish under paho's own mutex) so no lock order can cycle.
        self._sub_lock = threading.Lock()
        self._shared = _Shared()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: PahoClient | None = None
        self._handoff: Handoff | None = None
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.epoch = 0  # incremented on every successful connection
        self.last_error: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> MqttClient:
        self._handoff = Handoff(asyncio.get_running_loop())
        self._client = self._make_client()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._network_main, name=f"mqtt-{self._client_id}", daemon=True
        )
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        client, thread = self._client, self._thread
        try:
            if client is not None:
                client.disconnect()  # wakes the loop; a clean DISCONNECT suppresses the will
            if thread is not None:
                await asyncio.to_thread(thread.join, 5.0)
            if client is not None and (thread is None or not thread.is_alive()):
                # paho's wake-up socket pair is closed only by its __del__; in the reference
                # cycle with this object the garbage collector may finalise the sockets first
                # (a ResourceWarning, an error under pytest). Nobody uses the client now.
                client._reset_sockets()
        finally:
            self._fail_pending(PublishFailed("client closed"))
            self.connected.clear()
            self._client = None  # a publish after exit fails as "not connected"

    def _make_client(self) -> PahoClient:
        s = self._settings
        c = PahoClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=paho.MQTTv5,
            manual_ack=self._manual_ack,
            reconnect_on_failure=False,
        )
        c.max_inflight_messages_set(100)
        if s.username:
            c.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.tls:
            import ssl  # only with TLS: the agent's process loads no OpenSSL without it

            c.tls_set(
                ca_certs=s.ca_file,
                certfile=s.cert_file,
                keyfile=s.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if self._will is not None:
            c.will_set(self._will.topic, self._will.payload, qos=1, retain=self._will.retain)
        # Without a write callback paho writes to the socket from whichever thread queues a
        # packet: publish(), ack() and subscribe() on the event loop would race the network
        # thread (on a TLS socket that corrupts the stream: the broker drops the client with
        # "protocol error"). With it they only queue and wake select(); one thread writes.
        c.on_socket_register_write = _no_op
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        return c

    # -- network thread ----------------------------------------------------------------------
    def _network_main(self) -> None:
        assert self._client is not None
        client, s = self._client, self._settings
        attempt = 0
        while not self._stop.is_set():
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._session_expiry_s
            if self._receive_maximum:
                props.ReceiveMaximum = self._receive_maximum
            try:
                client.connect(s.host, s.port, keepalive=s.keepalive, properties=props)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                self.last_error = f"connect to {s.host}:{s.port} failed: {exc}"
                log.warning("%s", self.last_error)
            else:
                started = time.monotonic()
                while not self._stop.is_set():
                    if client.loop(timeout=1.0) != paho.MQTT_ERR_SUCCESS:
                        break
                # A connection that held for a while resets the backoff.
                if time.monotonic() - started > self._settings.reconnect_max_s:
                    attempt = 0
                with contextlib.suppress(Exception):
                    client.disconnect()
                    client.loop_write()  # this thread is the one that writes (see above)
                self._call(self.connected.clear)
            if self._stop.is_set():
                break
            self._stop.wait(self._backoff.delay(attempt))
            attempt += 1

    def _call(self, fn: Any, *args: Any) -> None:
        if self._handoff is not None:
            self._handoff.call(fn, *args)

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            self.last_error = f"broker refused connection: {rc}"
            log.error("%s", self.last_error)
            return
        self.last_error = None
        with self._sub_lock:
            for topic, qos in self._subscriptions.items():
                client.subscribe(topic, qos=qos)
        self._call(self._set_connected)

    def _set_connected(self) -> None:
        self.epoch += 1
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._call(self.connected.clear)
        self._fail_pending(PublishFailed(f"disconnected: {rc}"))

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._shared.lock:
            fut = self._shared.pending.pop(mid, None)
            if fut is None:
                self._shared.early[mid] = rc.value  # PUBACK beat the registration in publish()
                return
        exc = PublishFailed(f"broker rejected publish: {rc}") if rc.is_failure else None
        self._call(_settle, fut, exc, rc.value)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        ctype = getattr(props, "ContentType", None) if props is not None else None
        m = Message(msg.topic, bytes(msg.payload), msg.qos, msg.mid, ctype, bool(msg.retain))
        self._call(self.messages.put_nowait, m)

    def _fail_pending(self, exc: Exception) -> None:
        with self._shared.lock:
            futures = list(self._shared.pending.values())
            self._shared.pending.clear()
            self._shared.early.clear()
        for fut in futures:
            self._call(_settle, fut, exc)

    # -- asyncio side --------------------------------------------------------------------
    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        with self._sub_lock:
            self._subscriptions[topic] = qos
            if self._client is not None and self._client.is_connected():
                self._client.subscribe(topic, qos=qos)

    async def wait_connected(self, timeout: float | None = None) -> None:
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see publish()
                await self.connected.wait()
        except TimeoutError as exc:
            raise BrokerUnavailable(self.last_error or "not connected") from exc

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        content_type: str | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Publish and, for QoS 1, wait for the broker's PUBACK. Raises PublishFailed.

        Returns the PUBACK's reason code (0 for QoS 0): 0 success, or a non-failure code such
        as NO_MATCHING_SUBSCRIBERS (the broker accepted it but nobody was subscribed)."""
        props = _properties(content_type)
        mid, fut = self._queue(topic, payload, qos, retain, props)
        if fut is None:
            return 0
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands in the
            # same loop turn as the PUBACK, and the cancelled caller runs on (a shutdown hangs).
            async with asyncio.timeout(timeout):
                return await asyncio.shield(fut)
        except TimeoutError as exc:
            raise PublishFailed(f"no PUBACK within {timeout}s") from exc
        finally:
            with self._shared.lock:
                self._shared.pending.pop(mid, None)

    async def publish_many(
        self,
        items: Sequence[tuple[str, bytes]],
        *,
        content_type: str | None = None,
        timeout: float = 10.0,
    ) -> list[int | PublishFailed]:
        """Publish (topic, payload) pairs at QoS 1 and wait for their PUBACKs together: one
        properties object and one wait for the group instead of a task per message. Per item,
        in order: the PUBACK reason code or the PublishFailed it met (maybe not sent: callers
        resend as after `publish`)."""
        return await self.published(self.queue_many(items, content_type=content_type), timeout)

    def queue_many(
        self, items: Sequence[tuple[str, bytes]], *, content_type: str | None = None
    ) -> Queued:
        """`publish_many`'s first half: the items are handed to the client now, in this order;
        `published` waits for their PUBACKs."""
        props = _properties(content_type)
        queued: Queued = []
        for topic, payload in items:
            try:
                queued.append(self._queue(topic, payload, 1, False, props))
            except PublishFailed as exc:
                queued.append(exc)
        return queued

    async def published(self, queued: Queued, timeout: float) -> list[int | PublishFailed]:
        """`publish_many`'s second half: each item's PUBACK reason code or PublishFailed."""
        futures = [q[1] for q in queued if isinstance(q, tuple) and q[1] is not None]
        try:
            if futures:
                await asyncio.wait(futures, timeout=timeout)
        finally:
            with self._shared.lock:
                for q in queued:
                    if isinstance(q, tuple):
                        self._shared.pending.pop(q[0], None)
        return [_outcome(q, timeout) for q in queued]

    def _queue(
        self, topic: str, payload: bytes, qos: int, retain: bool, props: Properties | None
    ) -> tuple[int, asyncio.Future[int] | None]:
        """Hand a PUBLISH to paho; for QoS 1 a future settled by its PUBACK."""
        client = self._client
        if client is None or not self.connected.is_set():
            raise PublishFailed(self.last_error or "not connected")
        info = client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        # On MQTT_ERR_NO_CONN paho has still queued a QoS 1 message and may send it after the
        # reconnect: callers treat PublishFailed as "maybe not sent" and resend, which the
        # collector's dedup makes harmless.
        if info.rc != paho.MQTT_ERR_SUCCESS:  # e.g. MQTT_ERR_QUEUE_SIZE, MQTT_ERR_NO_CONN
            raise PublishFailed(f"publish refused by client: {paho.error_string(info.rc)}")
        if qos == 0:
            return info.mid, None
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        with self._shared.lock:
            if info.mid in self._shared.early:
                fut.set_result(self._shared.early.pop(info.mid))
            else:
                self._shared.pending[info.mid] = fut
        return info.mid, fut

    def burst(self) -> contextlib.AbstractContextManager[None]:
        """Publishes and acks made inside wake the network thread once, at the end, instead of
        once each (a commit's acks: a system call and a GIL hand-off each)."""
        client = self._client
        return client.deferred_wake() if client is not None else contextlib.nullcontext()

    def ack(self, message: Message) -> None:
        """Send the PUBACK of a message received in manual-ack mode (after it is committed)."""
        if self._client is not None and message.qos > 0 and self._manual_ack:
            self._client.ack(message.mid, message.qos)


def _no_op(*_: object) -> None:
    pass


def _properties(content_type: str | None) -> Properties | None:
    if not content_type:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType = content_type
    return props


def _outcome(
    queued: tuple[int, asyncio.Future[int] | None] | PublishFailed, timeout: float
) -> int | PublishFailed:
    if isinstance(queued, PublishFailed):
        return queued
    fut = queued[1]
    if fut is None:
        return 0
    if not fut.done():
        fut.cancel()
        return PublishFailed(f"no PUBACK within {timeout}s")
    exc = fut.exception()
    if exc is None:
        return fut.result()
    return exc if isinstance(exc, PublishFailed) else PublishFailed(str(exc))


def _settle(fut: asyncio.Future[int], exc: BaseException | None, code: int = 0) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(code)
    else:
        fut.set_exception(exc)
