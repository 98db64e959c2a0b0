"""shared/mqtt_io.py: the read-ahead socket paho reads through, and the ordered hand-off of the
network thread's calls to the event loop, and the wake-up written once per burst."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from unittest import mock

import pytest
from paho.mqtt.enums import CallbackAPIVersion

from shared.mqtt_io import READ_SIZE, BufferedSocket, Handoff, PahoClient


class ScriptedSocket(socket.socket):
    """A socket whose recv() returns scripted chunks (or raises), counting the calls."""

    def __init__(self, chunks: list[bytes | type[Exception]]) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.chunks = chunks
        self.recv_sizes: list[int] = []
        self.sent: list[bytes] = []

    def recv(self, size: int, flags: int = 0) -> bytes:
        self.recv_sizes.append(size)
        chunk = self.chunks.pop(0)
        if isinstance(chunk, bytes):
            return chunk
        raise chunk()

    def send(self, data: object, flags: int = 0) -> int:
        assert isinstance(data, bytes)
        self.sent.append(data)
        return len(data)


@pytest.fixture
def packets() -> bytes:
    # Two MQTT packets as paho reads them: a PUBLISH (command, remaining length, body) and a
    # PUBACK.
    return b"\x30\x05\x00\x01tab" + b"\x40\x02\x00\x07"


def test_small_reads_come_from_one_recv(packets: bytes) -> None:
    raw = ScriptedSocket([packets, BlockingIOError])
    sock = BufferedSocket(raw, None)
    got = [sock.recv(1), sock.recv(1), sock.recv(5), sock.recv(1), sock.recv(1), sock.recv(2)]
    assert b"".join(got) == packets
    assert got == [b"\x30", b"\x05", b"\x00\x01tab", b"\x40", b"\x02", b"\x00\x07"]
    assert raw.recv_sizes == [READ_SIZE]  # one system call for both packets
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):  # empty: the socket's own error, for paho to handle
        sock.recv(1)
    raw.close()


def test_pending_counts_the_buffer_and_the_tls_layer(packets: bytes) -> None:
    raw = ScriptedSocket([packets])
    tls_pending = [3]
    sock = BufferedSocket(raw, lambda: tls_pending[0])
    assert sock.pending() == 3  # nothing buffered yet: only what the TLS layer holds
    sock.recv(2)
    assert sock.pending() == len(packets) - 2 + 3
    tls_pending[0] = 0
    sock.recv(100)  # a read larger than what is buffered returns what is there, no new recv
    assert sock.pending() == 0
    assert raw.recv_sizes == [READ_SIZE]
    raw.close()


def test_a_packet_split_across_reads_is_whole(packets: bytes) -> None:
    raw = ScriptedSocket([packets[:4], packets[4:]])
    sock = BufferedSocket(raw, None)
    assert sock.recv(2) == packets[:2]
    assert sock.recv(5) == packets[2:4]  # the rest of the first read only
    assert sock.recv(5) == packets[4:9]
    assert sock.recv(100) == packets[9:]
    assert len(raw.recv_sizes) == 2
    raw.close()


def test_closed_connection_and_send_pass_through() -> None:
    raw = ScriptedSocket([b""])
    sock = BufferedSocket(raw, None)
    assert sock.recv(1) == b""  # the peer closed: paho sees it as from the socket
    assert sock.send(b"\xc0\x00") == 2
    assert raw.sent == [b"\xc0\x00"]
    sock.close()
    assert raw.fileno() == -1


async def test_handoff_runs_calls_in_order_with_one_wakeup_per_burst() -> None:
    loop = asyncio.get_running_loop()
    handoff = Handoff(loop)
    ran: list[int] = []
    done = asyncio.Event()

    def network_thread() -> None:
        for i in range(1000):
            handoff.call(ran.append, i)
        handoff.call(done.set)

    with mock.patch.object(loop, "call_soon_threadsafe", wraps=loop.call_soon_threadsafe) as wake:
        t = threading.Thread(target=network_thread)
        t.start()
        await asyncio.to_thread(t.join)
        await asyncio.wait_for(done.wait(), 5)
        wakeups = wake.call_count
    assert ran == list(range(1000))
    assert 1 <= wakeups < 1000  # the loop was not woken per call
    # A call after the burst was run wakes the loop again.
    handoff.call(ran.append, 1000)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ran[-1] == 1000


async def test_handoff_a_failing_call_does_not_drop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handoff = Handoff(asyncio.get_running_loop())
    ran: list[str] = []

    def boom() -> None:
        raise ValueError("bad callback")

    handoff.call(ran.append, "before")
    handoff.call(boom)
    handoff.call(ran.append, "after")
    with caplog.at_level(logging.ERROR, logger="shared.mqtt_io"):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert ran == ["before", "after"]
    assert "callback from the MQTT thread failed" in caplog.text


def _drain(sock: socket.socket) -> bytes:
    try:
        return sock.recv(100)
    except BlockingIOError:
        return b""


def test_deferred_wake_writes_once_per_burst_of_one_thread() -> None:
    client = PahoClient(callback_api_version=CallbackAPIVersion.VERSION2, client_id="t")
    try:
        client.loop(timeout=0)  # paho makes its wake-up socket pair here
        reader = client._sockpairR
        assert reader is not None
        wake = client._sockpairW
        assert wake is not None
        wake.send(b"0")
        wake.send(b"0")
        assert _drain(reader) == b"00"  # outside a burst: a byte a packet, as paho does
        with client.deferred_wake():
            for _ in range(50):
                wake.send(b"0")
            other = threading.Thread(target=wake.send, args=(b"0",))
            other.start()
            other.join()
            assert _drain(reader) == b"0"  # another thread's wake-up is not held back
        assert _drain(reader) == b"0"  # the burst's one, at its end
        with client.deferred_wake():
            pass
        assert _drain(reader) == b""  # nothing queued, nothing written
    finally:
        client._reset_sockets()


def test_handoff_keeps_nothing_for_a_closed_loop() -> None:
    # The network thread can outlive the event loop (a daemon thread): what it hands over then
    # is dropped, not queued without end.
    loop = asyncio.new_event_loop()
    handoff = Handoff(loop)
    loop.close()
    ran: list[int] = []
    for i in range(100):
        handoff.call(ran.append, i)
    assert handoff.pending() == 0 and ran == []
