"""What paho's network thread costs per packet, cut where it meets the socket and the loop
(used by shared/mqtt.py).

paho reads a packet in three or more `recv()` calls (the command byte, the remaining length a
byte at a time, then the body), and the bridge woke the event loop once per incoming message
and once per PUBACK. Each of those is a system call, and each releases and retakes the GIL that
the event loop's thread is busy with: at 10-event batches the collector's network thread took
~300 us of CPU per message, more than parsing and storing the message.

- `BufferedSocket` serves those small reads from one `recv()` of up to READ_SIZE bytes. paho
  asks a socket's `pending()` before it waits in select() (it does so for TLS sockets), so a
  packet left in the buffer is read at once, never left waiting for the socket to be readable.
- `Handoff` hands the network thread's results to the event loop in order, with one
  `call_soon_threadsafe` per burst instead of one per item.
- `PahoClient.deferred_wake()`: paho writes a byte to its wake-up socket for every packet
  queued (a PUBACK, an ack PUBLISH); inside it, one thread's burst of packets writes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

log = logging.getLogger(__name__)

# One recv() takes what the kernel has, up to this: a burst of small packets in one call.
READ_SIZE = 64 * 1024


class BufferedSocket:
    """A connected socket (plain or TLS) whose `recv` is served from a read-ahead buffer. Only
    what paho's client calls on its socket after connecting is here."""

    __slots__ = ("_buf", "_inner_pending", "_pos", "_sock")

    def __init__(self, sock: socket.socket, inner_pending: Callable[[], int] | None) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        # A TLS socket's own buffer of decrypted bytes (ssl.SSLSocket.pending), else None.
        self._inner_pending = inner_pending

    def recv(self, size: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            # Raises as the socket does (BlockingIOError, ssl.SSLWantReadError...): paho
            # handles those; b"" (closed) is passed on.
            buf = self._sock.recv(READ_SIZE)
            if not buf:
                return buf
            pos = 0
        end = min(pos + size, len(buf))
        self._buf, self._pos = buf, end
        return buf[pos:end] if pos or end < len(buf) else buf

    def pending(self) -> int:
        """Bytes readable without waiting: the buffer's, and a TLS socket's decrypted ones."""
        n = len(self._buf) - self._pos
        return n + self._inner_pending() if self._inner_pending is not None else n

    def send(self, data: bytes | bytearray) -> int:
        return self._sock.send(data)

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def settimeout(self, value: float | None) -> None:
        self._sock.settimeout(value)

    def close(self) -> None:
        self._buf, self._pos = b"", 0
        self._sock.close()


class Handoff:
    """Calls made from another thread, run on the event loop in the order they were made. The
    loop is woken once for all the calls queued before it gets to them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._calls: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._scheduled = False

    def call(self, fn: Callable[..., object], *args: Any) -> None:
        if self._loop.is_closed():
            return  # nobody would run it: not kept (the network thread may outlive the loop)
        with self._lock:
            self._calls.append((fn, args))
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop closed while we were deciding
            self._loop.call_soon_threadsafe(self._run)

    def pending(self) -> int:
        """Calls queued and not yet run."""
        with self._lock:
            return len(self._calls)

    def _run(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, deque()
            self._scheduled = False
        for fn, args in calls:
            try:
                fn(*args)
            except Exception:  # as the loop would for a callback of its own: log, go on
                log.exception("callback from the MQTT thread failed: %r", fn)


class _Wake:
    """paho's wake-up socket: a byte written to it makes the network thread leave select() and
    write what was queued. While one thread defers, its writes become one, at the end."""

    __slots__ = ("_deferring", "_owed", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._deferring: int | None = None  # the thread whose wake-ups wait, if any
        self._owed = False

    def send(self, data: bytes) -> int:
        if self._deferring == threading.get_ident():
            self._owed = True
            return len(data)
        return self._sock.send(data)

    def close(self) -> None:
        self._sock.close()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring = threading.get_ident()
        try:
            yield
        finally:
            self._deferring = None
            if self._owed:
                self._owed = False
                # Full (the thread is awake anyway) or closed (the client is shutting down).
                with contextlib.suppress(OSError):
                    self._sock.send(b"0")


class PahoClient(paho.Client):
    """paho's client with its connected socket read through a `BufferedSocket`, and its
    wake-up socket written once per burst inside `deferred_wake()`."""

    _wake: _Wake | None = None

    # paho assigns and reads this attribute itself (a socket.socket): the property puts the
    # wrapper in between. A property over a plain attribute is not an override mypy accepts.
    @property  # type: ignore[override]
    def _sockpairW(self) -> _Wake | None:
        return self._wake

    @_sockpairW.setter
    def _sockpairW(self, sock: socket.socket | None) -> None:
        self._wake = None if sock is None else _Wake(sock)

    def deferred_wake(self) -> contextlib.AbstractContextManager[None]:
        """Packets this thread queues inside wake the network thread once, at the end."""
        wake = self._wake
        return wake.deferred() if wake is not None else contextlib.nullcontext()

    def _create_socket(self) -> SocketLike:
        sock = super()._create_socket()
        if not isinstance(sock, socket.socket):  # a websocket wrapper: left as paho made it
            return sock
        inner_pending = None
        if self._ssl:  # ssl is imported only with TLS (the agent's process loads no OpenSSL)
            import ssl

            assert isinstance(sock, ssl.SSLSocket)
            inner_pending = sock.pending
        return BufferedSocket(sock, inner_pending)
