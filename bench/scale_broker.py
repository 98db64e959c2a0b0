"""Scale suite, `broker` part: a private Mosquitto's memory per idle device connection, plain
and TLS (raw MQTT 5 packets, as an agent's session set-up), and with real idle `Agent`s."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.core import Figure
from bench.scale_kit import cpu_s, status_kb, status_payload
from devkit.broker import LocalBroker, free_port
from shared.topics import status_topic


# -- broker: idle device connections ------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, b = n >> 7, n & 0x7F
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(v: str | bytes) -> bytes:
    b = v.encode() if isinstance(v, str) else v
    return len(b).to_bytes(2, "big") + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def device_packets(device: str) -> tuple[bytes, bytes]:
    """An agent's session set-up, as MQTT 5 packets: CONNECT (clean start, keepalive 600 s for
    an idle measurement, a retained QoS 1 last will), then SUBSCRIBE to its ack topic and a
    retained QoS 1 status PUBLISH."""
    will = status_payload(device).replace(b'"online"', b'"offline"')
    connect = _packet(
        0x10,
        _s("MQTT") + bytes([5, 0x2E]) + (600).to_bytes(2, "big") + b"\x00"
        + _s(device) + b"\x00" + _s(status_topic(device)) + _s(will),
    )  # fmt: skip
    subscribe = _packet(0x82, (1).to_bytes(2, "big") + b"\x00" + _s(f"pes/v1/dev/{device}/ack")
                        + b"\x01")  # fmt: skip
    publish = _packet(0x33, _s(status_topic(device)) + (2).to_bytes(2, "big") + b"\x00"
                      + status_payload(device))  # fmt: skip
    return connect, subscribe + publish


async def _read_packet(reader: asyncio.StreamReader) -> int:
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        b = (await reader.readexactly(1))[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    await reader.readexactly(length)
    return first >> 4


async def open_device(port: int, device: str, tls: ssl.SSLContext | None) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    connect, rest = device_packets(device)
    writer.write(connect)
    if await _read_packet(reader) != 2:  # CONNACK
        raise RuntimeError("no CONNACK")
    writer.write(rest)
    got = {await _read_packet(reader), await _read_packet(reader)}
    if got != {9, 4}:  # SUBACK, PUBACK
        raise RuntimeError(f"unexpected packets {got}")
    return writer


@contextlib.contextmanager
def tls_files() -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory(prefix="pes-bench-tls-") as d:
        cert, key = Path(d) / "server.crt", Path(d) / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        os.chmod(d, 0o755)  # Mosquitto may read them after dropping to its own user
        for p in (cert, key):
            os.chmod(p, 0o644)
        yield cert, key


async def broker_connections(n: int, tls: bool) -> list[Figure]:
    kind = "tls" if tls else "plain"
    with contextlib.ExitStack() as stack:
        ctx: ssl.SSLContext | None = None
        extra = ""
        port = free_port()
        if tls:
            cert, key = stack.enter_context(tls_files())
            extra = f"listener {port} 127.0.0.1\ncafile {cert}\ncertfile {cert}\nkeyfile {key}\n"
            ctx = ssl.create_default_context(cafile=str(cert))
        async with LocalBroker(extra_config=extra) as broker:
            assert broker.proc is not None
            pid = broker.proc.pid
            port = port if tls else broker.port
            await asyncio.sleep(0.5)
            rss0, cpu0 = status_kb(pid, "VmRSS"), cpu_s(pid)
            sem = asyncio.Semaphore(100)
            prefix = secrets.token_hex(3)

            async def one(i: int) -> asyncio.StreamWriter:
                async with sem:
                    return await open_device(port, f"gw-{prefix}-{i:06d}", ctx)

            t0 = time.perf_counter()
            writers = await asyncio.gather(*(one(i) for i in range(n)))
            seconds = time.perf_counter() - t0
            await asyncio.sleep(1.0)
            rss1, cpu1 = status_kb(pid, "VmRSS"), cpu_s(pid)
            for w in writers:
                w.close()
            await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    return [
        Figure(f"broker_{kind}_kib_per_conn", (rss1 - rss0) / n, "KiB",
               note=f"Mosquitto RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB with {n:,} idle "
                    "devices (subscription, will, retained status)"),
        Figure(f"broker_{kind}_cpu_ms_per_connect", (cpu1 - cpu0) / n * 1000, "ms",
               note=f"{n / seconds:,.0f} connects/s wall (client in Python, 100 at a time)"),
    ]  # fmt: skip


_AGENTS = """
import asyncio, sys
from pathlib import Path
from agent.agent import Agent
from agent.settings import AgentSettings, MqttSettings

async def main(port, first, n, d):
    agents = [Agent(AgentSettings(
        device_id=f"gw-{i:05d}", device_type="gateway-x1", firmware_version="4.2.1",
        account_id="acme", labels={"site": "plant-3"}, buffer_path=Path(d) / f"{i}.db",
        mqtt=MqttSettings(port=port), auto_sessions=False, socket_enabled=False,
    ), idle_poll_s=60) for i in range(first, first + n)]
    for a in agents:
        await a.__aenter__()
    while not all(a.stats().connected for a in agents):
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # each has published its retained status
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(a.close() for a in agents))

asyncio.run(main(*map(int, sys.argv[1:4]), sys.argv[4]))
"""


async def broker_real_agents(n: int, tmp: Path) -> Figure:
    """Mosquitto's memory per connection with real, idle `Agent`s (in processes of 100: one
    Python process cannot watch more than ~170 agents' sockets with paho's select())."""
    async with LocalBroker() as broker:
        assert broker.proc is not None
        await asyncio.sleep(0.5)
        rss0 = status_kb(broker.proc.pid, "VmRSS")
        procs = []
        for first in range(0, n, 100):
            d = tmp / f"agents-{first}"
            d.mkdir()
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-c", _AGENTS, str(broker.port), str(first),
                str(min(100, n - first)), str(d),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            ))  # fmt: skip
        try:
            for p in procs:
                assert p.stdout is not None
                line = await asyncio.wait_for(p.stdout.readline(), 300)
                assert line.strip() == b"ready", line
            await asyncio.sleep(1.0)
            rss1 = status_kb(broker.proc.pid, "VmRSS")
        finally:
            for p in procs:
                assert p.stdin is not None
                p.stdin.close()
            await asyncio.gather(*(p.wait() for p in procs))
    return Figure(
        "broker_agents_kib_per_conn", (rss1 - rss0) / n, "KiB",
        note=f"Mosquitto RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB with {n} idle real agents "
             "(plain MQTT)",
    )  # fmt: skip
