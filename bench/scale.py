"""Scale-out figures for docs/scaling.md: collectors, PostgreSQL, the broker, storage.

This machine has 2 cores and is shared, so wall-clock rates say little about a bigger box. Each
run therefore also measures CPU time per component (/proc/PID/stat) and reports work per
CPU-second, which is what extrapolates:

- scale_<shape>_<n>c_*: n = 1, 2, 3 `pes-collector serve` processes (real processes, as
  deployed) on one fresh PostgreSQL database behind one shared subscription; the load generator
  (bench/loadgen.py, its own process) publishes agents' batches through a private Mosquitto,
  4 in flight per device, and waits for every ack. Shapes: `bulk` = 500 events a batch (a
  backlog draining), `single` = 1 event a batch (a live fleet at 200 events a day sends almost
  every event alone). Reported: events/s and messages/s (wall), and per CPU-second of the
  collectors, of PostgreSQL (the backends serving this database; the shared WAL writer and
  checkpointer are not counted) and of Mosquitto (one message = a batch in and its ack out).
- status_*: retained agent statuses (`pes/v1/dev/<id>/status`), one per device, published by
  one client, taken by the collectors through the shared subscription (each status written by
  one collector); the figure is statuses per collector CPU-second until all are stored.
- db_*_bytes: on-disk bytes per row (table, TOAST and indexes) of every table, after 1,000
  gateways' day of 200 events each (quick: 200) went through the collector's parse and write
  path; db_bytes_per_event: all tables together per raw event.
- broker_*: a private Mosquitto's resident memory per idle device connection (CONNECT with a
  retained last will, SUBSCRIBE to its ack topic, a retained status, as the agent does), plain
  and TLS, and the broker CPU time per connection set up; broker_agents_kib_per_conn: the
  same with real idle `Agent`s (400, quick: 200), which checks the emulation.
- retention_*: dropping a day partition against DELETE of as many rows (bench/scale_retention.py).
- stats_pg_ms, fleet_pg_ms: /v1/stats' and /v1/fleet's store calls on 10 M raw events, against
  the count(*) they replaced (bench/scale_stats.py).

Before/after on the same machine at the same time: PES_BENCH_COLLECTOR_TREE=<a checkout> runs
that tree's collector processes (started in it, so its collector/ and shared/ load), e.g.
`git archive main | tar -x -C /tmp/main && PES_BENCH_COLLECTOR_TREE=/tmp/main python -m bench
scale`; PES_BENCH_SCALE_PARTS=single,status (of bulk, single, status, retention, rows,
broker, stats) runs a subset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from bench.core import Figure, Size
from bench.scale_retention import retention_figures
from bench.scale_stats import stats_figures
from collector.ingest.parse import parse_batch
from collector.storage import open_store
from devkit.broker import LocalBroker, free_port
from shared import codec
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import events_topic, status_topic

ALL_PARTS = "bulk,single,status,retention,rows,broker,stats"
PG_ADMIN = os.environ.get("PES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TICK = os.sysconf("SC_CLK_TCK")


def _say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


# -- process accounting -------------------------------------------------------------------
def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    name = f"pes_bench_scale_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def pg_backend_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend connected to this database (not this one)."""
    db = dsn.rsplit("/", 1)[1]
    con = await asyncpg.connect(PG_ADMIN)
    try:
        rows = await con.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db
        )
    finally:
        await con.close()
    return {r["pid"]: cpu_s(r["pid"]) for r in rows}


# -- collectors as processes --------------------------------------------------------------
@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    http: int

    async def ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"collector exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.http}/readyz")).is_success:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError("collector not ready")

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"http://127.0.0.1:{self.http}/v1/stats")
            r.raise_for_status()
            return dict(r.json())


def _spawn(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    # `-m` puts the working directory first on sys.path, ahead of the editable install.
    tree = os.environ.get("PES_BENCH_COLLECTOR_TREE") or None
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(conf)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=tree,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def collectors(n: int, broker_port: int, dsn: str, tmp: Path) -> AsyncIterator[list[Any]]:
    procs: list[Collector] = []
    try:
        for i in range(n):
            http = free_port()
            conf = tmp / f"collector-{i}.toml"
            conf.write_text(
                f'[storage]\nurl = "{dsn}"\n'
                f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\n'
                f'[api]\nhost = "127.0.0.1"\nport = {http}\n'
                f'[ingest]\nclient_id = "bench-collector-{i}"\n'
            )
            procs.append(Collector(_spawn(conf, tmp / f"collector-{i}.log"), http))
        await asyncio.gather(*(c.ready() for c in procs))
        await asyncio.sleep(1.0)  # subscriptions go out right after CONNACK
        yield procs
    finally:
        for c in procs:
            c.proc.terminate()
        for c in procs:
            try:
                await asyncio.to_thread(c.proc.wait, 30)
            except subprocess.TimeoutExpired:
                c.proc.kill()


_LOADGEN = (
    "import asyncio, json, resource, sys\n"
    "from bench import loadgen\n"
    "asyncio.run(loadgen.main(*map(int, sys.argv[1:6])))\n"
    "r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(json.dumps({'cpu': r.ru_utime + r.ru_stime}))\n"
)


async def loadgen(port: int, devices: int, batches: int, size: int) -> tuple[dict[str, Any], float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LOADGEN, str(port), str(devices), str(batches), str(size), "4",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 1800)
    lines = out.decode().strip().splitlines()
    return json.loads(lines[-2]), float(json.loads(lines[-1])["cpu"])


@dataclass(frozen=True)
class Run:
    shape: str
    collectors: int
    events: int
    messages: int
    seconds: float
    collector_cpu: float
    pg_cpu: float
    broker_cpu: float
    loadgen_cpu: float
    stored_each: list[int]
    collector_peak_rss_mb: float


async def ingest_run(
    shape: str, n: int, dims: tuple[int, int, int], broker: LocalBroker, tmp: Path
) -> Run:
    devices, batches, size = dims
    assert broker.proc is not None
    async with pg_database() as dsn, collectors(n, broker.port, dsn, tmp) as cs:
        c0 = {c.proc.pid: cpu_s(c.proc.pid) for c in cs}
        p0 = await pg_backend_cpu(dsn)
        b0 = cpu_s(broker.proc.pid)
        result, gen_cpu = await loadgen(broker.port, devices, batches, size)
        c1 = {pid: cpu_s(pid) for pid in c0}
        p1 = await pg_backend_cpu(dsn)
        b1 = cpu_s(broker.proc.pid)
        stats = [await c.stats() for c in cs]
        rss = max(status_kb(c.proc.pid, "VmHWM") for c in cs) / 1024
    stored = [s["ingest"]["stored"] for s in stats]
    assert sum(stored) == result["events"], f"lost or duplicated: {stored} vs {result}"
    return Run(
        shape, n, result["events"], devices * batches, result["seconds"],
        sum(c1[p] - c0[p] for p in c0), sum(v - p0.get(pid, 0.0) for pid, v in p1.items()),
        b1 - b0, gen_cpu, stored, rss,
    )  # fmt: skip


def run_figures(r: Run) -> list[Figure]:
    tag = f"scale_{r.shape}_{r.collectors}c"
    split = "/".join(f"{s:,}" for s in r.stored_each)
    return [
        Figure(f"{tag}_eps", r.events / r.seconds, "events/s",
               note=f"{r.events:,} events in {r.messages:,} batches; stored {split}"),
        Figure(f"{tag}_msgs", r.messages / r.seconds, "batches/s"),
        Figure(f"{tag}_collector_ev_per_cpu_s", r.events / r.collector_cpu, "events/CPU-s",
               note=f"{r.collector_cpu:.1f} CPU-s in {r.collectors} process(es); "
                    f"peak RSS {r.collector_peak_rss_mb:.0f} MB"),
        Figure(f"{tag}_collector_msg_per_cpu_s", r.messages / r.collector_cpu, "batches/CPU-s"),
        Figure(f"{tag}_pg_ev_per_cpu_s", r.events / max(r.pg_cpu, 0.01), "events/CPU-s",
               note=f"{r.pg_cpu:.1f} CPU-s, backends of this database"),
        Figure(f"{tag}_broker_msg_per_cpu_s", r.messages / max(r.broker_cpu, 0.01),
               "batches/CPU-s",
               note=f"{r.broker_cpu:.1f} CPU-s; loadgen {r.loadgen_cpu:.1f} CPU-s"),
    ]  # fmt: skip


# -- agent status messages ----------------------------------------------------------------
def status_payload(device: str) -> bytes:
    now = time.time_ns() // 1_000_000
    doc = {"v": 1, "device_id": device, "state": "online", "version": "0.1.0",
           "buffer_depth": 0, "oldest_age_s": None, "dropped": 0, "last_ack_ms": now,
           "sent_ms": now}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


async def status_run(n_collectors: int, statuses: int, broker: LocalBroker, tmp: Path) -> Figure:
    assert broker.proc is not None
    async with pg_database() as dsn, collectors(n_collectors, broker.port, dsn, tmp) as cs:
        c0 = {c.proc.pid: cpu_s(c.proc.pid) for c in cs}
        t0 = time.perf_counter()
        async with MqttClient(MqttSettings(port=broker.port), client_id="bench-status") as m:
            await m.wait_connected(10)
            prefix = secrets.token_hex(3)
            for k in range(0, statuses, 500):
                await asyncio.gather(*(
                    m.publish(status_topic(f"st-{prefix}-{i}"), status_payload(f"st-{prefix}-{i}"),
                              retain=True, content_type="application/json", timeout=120)
                    for i in range(k, min(statuses, k + 500))
                ))  # fmt: skip
        # The shared subscription gives each status to one collector; wait until all are stored.
        con = await asyncpg.connect(dsn)
        try:
            while True:
                done = await con.fetchval("SELECT count(*) FROM devices WHERE status IS NOT NULL")
                if done >= statuses:
                    break
                await asyncio.sleep(0.1)
        finally:
            await con.close()
        while True:
            cpu = {pid: cpu_s(pid) for pid in c0}
            await asyncio.sleep(1.0)  # the last collector may still be writing: wait till idle
            if sum(cpu_s(pid) - cpu[pid] for pid in c0) < 0.05 * n_collectors:
                break
        seconds = time.perf_counter() - t0 - 1.0
        used = sum(cpu[p] - c0[p] for p in c0)
    return Figure(
        f"status_{n_collectors}c_per_cpu_s", statuses / used, "statuses/CPU-s",
        note=f"{statuses:,} retained statuses, {n_collectors} collector(s), {seconds:.1f} s "
             f"wall ({statuses / seconds:,.0f}/s); {used:.1f} collector CPU-s",
    )  # fmt: skip


# -- storage per row ----------------------------------------------------------------------
def day_of_gateway(device: str, events: int, start_ms: int) -> list[tuple[str, bytes, str]]:
    """One gateway's day as the agent would send it: sessions of 10 events (session_start,
    8 feature uses over 6 features, session_end with its duration), 2 labels and a prop on
    every event, in batches of 50."""
    stream = f"s-{secrets.token_hex(8)}"
    evs: list[dict[str, Any]] = []
    for seq in range(1, events + 1):
        k = (seq - 1) % 10
        kind = "session_start" if k == 0 else "session_end" if k == 9 else "feature_use"
        ev: dict[str, Any] = {
            "id": str(uuid.uuid4()), "seq": seq, "kind": kind,
            "session_id": f"sess-{(seq - 1) // 10}", "user_id": f"op-{seq % 3}",
            "ts": start_ms + seq * 400_000, "device_type": "gateway-x1",
            "firmware_version": "4.2.1", "account_id": f"acct-{hash(device) % 5000}",
            "labels": {"site": "plant-3", "line": "a"}, "props": {"job": seq},
        }  # fmt: skip
        if kind == "feature_use":
            ev["feature"] = f"feature-{seq % 6}"
        if kind == "session_end":
            ev["props"] = {"duration_s": 900}
        evs.append(ev)
    out = []
    for b in range(0, events, 50):
        chunk = evs[b : b + 50]
        doc = {"v": 1, "device_id": device, "stream_id": stream,
               "first_seq": chunk[0]["seq"], "last_seq": chunk[-1]["seq"],
               "sent_ms": chunk[-1]["ts"], "sent_mono": 1000, "boot": "b-1",
               "events": chunk}  # fmt: skip
        payload, ctype = codec.encode(doc)
        out.append((events_topic(device), payload, ctype))
    return out


async def row_sizes(devices: int) -> list[Figure]:
    """Stores `devices` gateways' day of 200 events each through the collector's own parse and
    write path, then measures every table."""
    received = time.time_ns() // 1_000_000
    start = (received // 86_400_000 - 2) * 86_400_000 + 3_600_000  # 01:00 UTC, 2 days ago
    tz = ZoneInfo("UTC")
    async with pg_database() as dsn:
        async with open_store(dsn) as store:
            # As in service: the housekeeping job has made that day's partition (PostgreSQL).
            await store.create_partitions(datetime.fromtimestamp(start / 1000, UTC).date())
            units = []
            for d in range(devices):
                for topic, payload, ctype in day_of_gateway(f"gw-{d:07d}", 200, start):
                    units.append(parse_batch(topic, payload, ctype, received, tz))
                if len(units) >= 40:
                    await store.write(units, received)
                    units = []
            if units:
                await store.write(units, received)
        con = await asyncpg.connect(dsn)
        try:
            await con.execute("VACUUM ANALYZE")
            sizes: dict[str, int] = {}
            for t in await con.fetch(
                "SELECT relname, pg_total_relation_size(relid) AS size FROM pg_stat_user_tables"
            ):  # the day partitions of events count as events
                name = "events" if t["relname"].startswith("events_") else t["relname"]
                sizes[name] = sizes.get(name, 0) + int(t["size"])
            events = await con.fetchval("SELECT count(*) FROM events")
            assert events == devices * 200, events
            out, total = [], 0
            for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
                count = await con.fetchval(f'SELECT count(*) FROM "{name}"')  # noqa: S608
                total += size
                if count >= devices / 2:  # not the small dictionaries (page-size noise)
                    out.append(Figure(
                        f"db_{name}_bytes", size / count, "bytes/row",
                        note=f"{count:,} rows ({count / devices:.2f} per device-day), "
                             "with indexes and TOAST",
                    ))  # fmt: skip
            out.append(Figure(
                "db_bytes_per_event", total / events, "bytes",
                note=f"all tables / {events:,} events ({devices:,} gateways x 200 events, one day)",
            ))  # fmt: skip
            return out
        finally:
            await con.close()


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
from agent.settings import AgentSettings
from shared.mqtt import MqttSettings

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


# -- suite --------------------------------------------------------------------------------
async def run(size: Size) -> list[Figure]:
    shapes: Sequence[tuple[str, tuple[int, int, int]]] = size.pick(
        [("bulk", (100, 8, 500)), ("single", (2000, 10, 1))],
        [("bulk", (50, 4, 500)), ("single", (1000, 6, 1))],
        [("bulk", (5, 1, 100)), ("single", (20, 2, 1))],
    )
    parts = set(os.environ.get("PES_BENCH_SCALE_PARTS", ALL_PARTS).split(","))
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="pes-bench-scale-") as d:
        tmp = Path(d)
        async with LocalBroker() as broker:
            for shape, dims in shapes:
                for n in size.pick((1, 2, 3), (1, 2, 3), (1,)) if shape in parts else ():
                    _say(f"{shape}: {n} collector(s)")
                    figures += run_figures(await ingest_run(shape, n, dims, broker, tmp))
            for n in size.pick((1, 3), (1, 3), (1,)) if "status" in parts else ():
                _say(f"status: {n} collector(s)")
                figures.append(await status_run(n, size.pick(20000, 5000, 200), broker, tmp))
    if "retention" in parts:
        _say("retention: drop a day partition vs DELETE")
        async with pg_database() as dsn:
            figures += await retention_figures(dsn, size.pick(1_000_000, 200_000, 5_000))
    if "stats" in parts:
        _say("stats: /v1/stats and /v1/fleet on a large store")
        async with pg_database() as dsn:
            figures += await stats_figures(dsn, size.pick(10_000_000, 2_000_000, 10_000))
    if "rows" in parts:
        _say("row sizes")
        figures += await row_sizes(size.pick(1000, 200, 20))
    if "broker" in parts:
        for tls, count in ((False, size.pick(10_000, 2000, 20)), (True, size.pick(2000, 500, 10))):
            _say(f"broker: {count} idle {'TLS' if tls else 'plain'} connections")
            figures += await broker_connections(count, tls)
        agents = size.pick(400, 200, 3)
        _say(f"broker: {agents} idle agents")
        with tempfile.TemporaryDirectory(prefix="pes-bench-agents-") as d:
            figures.append(await broker_real_agents(agents, Path(d)))
    return figures
