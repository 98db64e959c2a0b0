"""End-to-end latency: from an event handed to a real agent to the event visible in /v1/pes.

Everything runs as deployed, each in its own process: a private Mosquitto, `pes-collector serve`
(SQLite, API on loopback) and `pes-agent run` (default settings: 200 ms linger, group commit).

1. The sustained rate: the load generator (bench/loadgen.py, its own process: a fleet of 50
   device streams, 500-event batches, 4 in flight each) publishes as fast as the collector acks;
   events/s from the first publish to the last ack.
2. Load at half that rate: the load generator again, now on a fixed schedule (100-event batches,
   devices in turn) for the whole measurement, so the collector is busy the way a steady fleet
   keeps it.
3. Probes, one every 100 ms while the load runs (from 1 s after its first publish: it builds
   its batches first): a JSON line to the agent's local socket
   `{"kind":"feature_use","feature":"probe","device_type":"probe","firmware_version":"pNNN"}`,
   each with a firmware version of its own, so that each probe adds one row to
   `GET /v1/pes?device_type=probe&group_by=firmware_version`. A poller requests that table in a
   loop; a probe's latency is from just before its line was written to the socket until the
   first response that has its row. The poll's own duration is included, so the figure errs
   high by up to one request (its median is in the note).

e2e_latency_p99_s is the 99th percentile over the probes (quick: 40, full: 150); the same-run
baseline is the latency of a probe with no load (the first probes, before the load starts: the
fixed cost of the 200 ms linger, the MQTT hops and the request). Its note gives the share of the
probes' time the collector's writer spent in commits (its /metrics): near 100%, the writer is
saturated and a probe waits for the commit in progress and then a whole commit of its own (the
load's 100-event batches cost the collector more per event than the 500-event batches its
sustained rate is measured with). It also gives the collector process's share of a core over the
probes' time and its CPU per event there, beside its CPU per event in the sustained run (/proc):
the two regimes' costs side by side.

`PES_BENCH_E2E_RATE=N` paces the load at N events/s instead of half the sustained rate (which
moves with the machine's load): same-load A/B pairs of two checkouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import loadgen
from bench.agent_drain import _collector
from bench.agent_kit import _say, _settings, _start_agent, _stop, _toml, _wait_socket
from bench.core import Figure, Size
from devkit.broker import LocalBroker

# the required figures (bench.core.REQUIRED) this suite always reports
PRODUCES = ("e2e_latency_p99_s",)
POLL_PATH = "/v1/pes?device_type=probe&group_by=firmware_version"
_TICK = os.sysconf("SC_CLK_TCK")


def _read(http: int, path: str) -> bytes:
    req = urllib.request.Request(
        f"http://127.0.0.1:{http}{path}", headers={"Authorization": "Bearer bench"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        body: bytes = r.read()
        return body


def _get(http: int, path: str) -> object:
    return json.loads(_read(http, path))


class Poller:
    """Requests the probes' PES table in a loop and notes when each firmware row first shows."""

    def __init__(self, http: int) -> None:
        self.http = http
        self.seen: dict[str, float] = {}
        self.request_s: list[float] = []
        self.errors: list[str] = []
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Poller:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            t0 = time.perf_counter()
            try:
                rows = await asyncio.to_thread(_get, self.http, POLL_PATH)
            except OSError as exc:  # counted and shown: an API failing under load is a finding
                self.errors.append(str(exc))
                await asyncio.sleep(0.1)
                continue
            now = time.perf_counter()
            self.request_s.append(now - t0)
            assert isinstance(rows, list)
            for row in rows:
                self.seen.setdefault(str(row["firmware_version"]), now)
            self.changed.set()
            await asyncio.sleep(0.02)

    async def wait_for(self, key: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while key not in self.seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"probe {key} not visible in /v1/pes after {timeout} s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1)
        return self.seen[key]


async def _probes(sock: Path, poller: Poller, first: int, n: int, gap_s: float) -> list[float]:
    """Sends n probes gap_s apart, returns each one's latency (s)."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    sent: dict[str, float] = {}
    try:
        for k in range(first, first + n):
            key = f"p{k:04d}"
            line = {
                "kind": "feature_use",
                "feature": "probe",
                "device_type": "probe",
                "firmware_version": key,
            }
            sent[key] = time.perf_counter()
            writer.write(json.dumps(line).encode() + b"\n")
            reply = json.loads(await reader.readline())
            if not reply.get("ok"):
                raise RuntimeError(f"the agent refused a probe: {reply}")
            await asyncio.sleep(max(0.0, sent[key] + gap_s - time.perf_counter()))
        return [await poller.wait_for(key) - t for key, t in sent.items()]
    finally:
        writer.close()


def _commit_seconds(http: int) -> float:
    """The collector's total time in commits so far (its /metrics histogram's sum)."""
    for line in _read(http, "/metrics").decode().splitlines():
        if line.startswith("pes_batch_commit_seconds_sum "):
            return float(line.split()[1])
    raise RuntimeError("no pes_batch_commit_seconds_sum in the collector's /metrics")


def _cpu_seconds(pid: int) -> float:
    """The CPU time of a process (all its threads, user and system) from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def run(size: Size) -> list[Figure]:
    probes = size.pick(150, 40, 5)
    gap_s = 0.1
    idle_probes = 10
    with tempfile.TemporaryDirectory(prefix="pes-bench-e2e-") as tmp:
        d = Path(tmp)
        async with LocalBroker() as broker:
            collector, http = _collector(d, broker.port)
            agent = None
            try:
                s = _settings(d, broker.port, "gw-probe")
                agent = _start_agent(_toml(s, d / "probe.toml"), d / "probe.log")
                await _wait_socket(s.socket_file)
                await _wait_api(http)
                # 1. the sustained rate of this collector, as deployed
                cpu0 = _cpu_seconds(collector.pid)
                full = await loadgen.spawn(
                    broker.port, size.pick(50, 50, 5), size.pick(4, 2, 1), size.pick(500, 500, 100)
                )
                # the collector's CPU per event there, beside its CPU per event under the load
                sustained_us = (_cpu_seconds(collector.pid) - cpu0) / full["events"] * 1e6
                sustained = full["events"] / full["seconds"]
                rate = sustained / 2
                if fixed := float(os.environ.get("PES_BENCH_E2E_RATE", "0") or 0):
                    # The paced load at a given rate instead: A/B pairs of two checkouts on a
                    # noisy machine then compare at one load (the sustained rate moves with it).
                    rate = fixed
                _say(f"sustained {sustained:,.0f} events/s; load at {rate:,.0f}")
                async with Poller(http) as poller:
                    # baseline: probes with nothing else going on
                    idle = await _probes(s.socket_file, poller, 0, idle_probes, gap_s)
                    _say(f"idle probes: median {statistics.median(idle):.2f} s")
                    # 2. + 3. load at half the sustained rate, probes once it runs
                    duration = probes * gap_s + 4.0
                    batch = 100
                    devices = 50
                    per_device = max(1, round(rate * duration / (batch * devices)))
                    started = asyncio.Event()
                    load = asyncio.create_task(
                        loadgen.spawn(
                            broker.port, devices, per_device, batch, 4, rate, started=started
                        )
                    )
                    try:
                        await _started(load, started)
                        await asyncio.sleep(1.0)  # its schedule has settled
                        busy0 = await asyncio.to_thread(_commit_seconds, http)
                        cpu0, t0 = _cpu_seconds(collector.pid), time.perf_counter()
                        lat = await _probes(s.socket_file, poller, idle_probes, probes, gap_s)
                        window = time.perf_counter() - t0
                        cpu = (_cpu_seconds(collector.pid) - cpu0) / window
                        busy = (await asyncio.to_thread(_commit_seconds, http) - busy0) / window
                    except BaseException:
                        load.cancel()
                        raise
                    _say(f"probes under load: median {statistics.median(lat):.2f} s")
                    paced = await load
                    poll_ms = 1000 * statistics.median(poller.request_s)
                    errors = poller.errors
                if errors:  # the API failed under load: show why, from the collector's log
                    log = (d / "collector.log").read_text().splitlines()
                    _say(
                        "collector log, errors:\n"
                        + "\n".join(line for line in log if "ERROR" in line or "Error" in line)[
                            -3000:
                        ]
                    )
            except BaseException:
                _say("collector log:\n" + (d / "collector.log").read_text()[-4000:])
                raise
            finally:
                if agent is not None:
                    _stop(agent)
                _stop(collector)
    achieved = paced["events"] / paced["seconds"]
    p99, idle_p99 = _p99(lat), _p99(idle)
    note = (
        f"{probes} probes under load at {achieved:,.0f} events/s "
        f"({100 * achieved / sustained:.0f}% of the sustained {sustained:,.0f}); "
        f"baseline: {idle_probes} probes without load; poll {poll_ms:.0f} ms; "
        f"the writer committing {100 * busy:.0f}% of the probes' time, the collector process "
        f"using {100 * cpu:.0f}% of a core ({cpu / achieved * 1e6:.1f} us of CPU per event; "
        f"{sustained_us:.1f} us in the sustained run)"
    )
    if errors:
        note += f"; {len(errors)} failed polls, first: {errors[0]}"
    return [
        Figure("e2e_latency_p99_s", p99, "s", "< 2", baseline=idle_p99, note=note),
        Figure(
            "e2e_latency_p50_s",
            statistics.median(lat),
            "s",
            baseline=statistics.median(idle),
            note="same probes",
        ),
        Figure("e2e_sustained_eps", sustained, "events/s", note="pes-collector serve, SQLite"),
    ]


async def _started(load: asyncio.Task[dict[str, float]], started: asyncio.Event) -> None:
    """Until the load generator publishes. It builds all its batches first, which takes
    seconds at these rates (~10 s for 1 M events on a busy machine): probes sent meanwhile
    met no load but a core taken by the build."""
    waiter = asyncio.ensure_future(started.wait())
    try:
        await asyncio.wait({waiter, load}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not started.is_set():  # it ended before publishing: its error, or a run too short
        await load
        raise RuntimeError("the load generator ended before it started publishing")


async def _wait_api(http: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await asyncio.to_thread(_get, http, "/healthz")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
