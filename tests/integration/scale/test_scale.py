"""Scale: a fleet of agents (in-process `agent.agent.Agent`s, each its own MQTT connection and
SQLite buffer, in worker processes of up to 100: see fleet.py), three `pes-collector serve`
processes on one PostgreSQL database behind one shared subscription, one collector SIGKILLed
mid-run and restarted. Every event is stored once, every collector takes a share of the load,
and every agent's buffer is drained by acks.

The default run has 60 agents; the 500-agent variant is marked slow (`scripts/test -m slow`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from devkit.broker import LocalBroker
from tests.kits.pes import (
    PgDatabase,
    api_get,
    start_collector,
    stop,
    wait_http,
    write_collector_config,
)

COLLECTORS = 3
AGENTS_PER_PROCESS = 100
FLEET = Path(__file__).with_name("fleet.py")


@dataclass(frozen=True)
class Shape:
    agents: int
    rounds: int  # rounds of recording per phase (three phases: before, during, after the kill)
    per_round: int  # events each agent records per round (one buffer commit)

    @property
    def total(self) -> int:
        return 3 * self.agents * self.rounds * self.per_round


SHAPES = [
    pytest.param(Shape(60, 2, 25), id="60-agents"),
    pytest.param(
        Shape(500, 2, 40), id="500-agents", marks=[pytest.mark.slow, pytest.mark.timeout(1200)]
    ),
]


class Collector:
    """One `pes-collector serve` process, restartable on the same config (same client id)."""

    def __init__(self, tmp: Path, broker_port: int, dsn: str, name: str) -> None:
        self.conf, self.http = write_collector_config(tmp, broker_port, storage_url=dsn, name=name)
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_collector(self.conf, self.log)

    async def ready(self, timeout: float = 60) -> None:
        """/readyz answers 200 once the store is reachable and the broker connected."""
        assert self.proc is not None
        await asyncio.to_thread(wait_http, self.url("/healthz"), timeout, self.proc)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url("/readyz"))).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.conf.stem} not ready: {self.log.read_text()[-2000:]}")

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)  # connected, but takes nothing off its socket

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # no chance to finish its transaction or acks
        self.proc.wait(30)

    def ingest(self) -> dict[str, int]:
        return dict(api_get(self.http, "/v1/stats")["ingest"])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}"


class Fleet:
    """Worker processes of up to AGENTS_PER_PROCESS agents each, driven in lockstep."""

    def __init__(self, tmp: Path, port: int, shape: Shape) -> None:
        self.tmp, self.port, self.shape = tmp, port, shape
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        s = self.shape
        for first in range(0, s.agents, AGENTS_PER_PROCESS):
            count = min(AGENTS_PER_PROCESS, s.agents - first)
            args = [FLEET, self.port, first, count, self.tmp / f"fleet-{first}", s.rounds,
                    s.per_round]  # fmt: skip
            with (self.tmp / f"fleet-{first}.log").open("ab") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, *map(str, args), stdin=PIPE, stdout=PIPE, stderr=log
                )
            self.procs.append(proc)
        ready = await self._answers(None, timeout=120)
        assert all(r["connected"] == r["ready"] for r in ready), ready

    async def phase(self) -> int:
        return sum(r["recorded"] for r in await self._ask("phase", timeout=300))

    async def flush(self, seconds: float) -> tuple[list[str], list[str], int]:
        """(agents not drained, agents whose background task died, batches resent)."""
        answers = await self._ask(f"flush {seconds}", timeout=seconds + 60)
        stuck = [x for r in answers for x in r["stuck"]]
        failed = [x for r in answers for x in r["failed"]]
        return stuck, failed, sum(r["resent"] for r in answers)

    def recorded_ids(self) -> list[str]:
        files = self.tmp.glob("fleet-*/recorded-ids.txt")
        return [i for f in files for i in f.read_text().split()]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ask("close", timeout=60)
        for p in self.procs:
            if p.returncode is None:
                p.kill()
            await p.wait()

    async def _ask(self, command: str, timeout: float) -> list[dict[str, Any]]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(f"{command}\n".encode())
            await p.stdin.drain()
        return await self._answers(command, timeout)

    async def _answers(self, command: str | None, timeout: float) -> list[dict[str, Any]]:
        async def one(p: asyncio.subprocess.Process) -> dict[str, Any]:
            assert p.stdout is not None
            line = await p.stdout.readline()
            if not line:
                logs = [f.read_text()[-1500:] for f in self.tmp.glob("fleet-*.log")]
                raise RuntimeError(f"fleet worker exited during {command!r}: {logs}")
            return dict(json.loads(line))

        return list(await asyncio.wait_for(asyncio.gather(*map(one, self.procs)), timeout))


@contextlib.asynccontextmanager
async def running_fleet(tmp: Path, port: int, shape: Shape) -> AsyncIterator[Fleet]:
    fleet = Fleet(tmp, port, shape)
    try:
        await fleet.start()
        yield fleet
    finally:
        await fleet.close()


async def stored_events(dsn: str) -> list[asyncpg.Record]:
    con = await asyncpg.connect(dsn)
    try:
        return list(await con.fetch("SELECT device_id, event_id, stream_id, seq FROM events"))
    finally:
        await con.close()


@pytest.mark.postgres
@pytest.mark.parametrize("shape", SHAPES)
async def test_agents_three_collectors_one_killed_every_event_once(
    tmp_path: Path, broker: LocalBroker, shape: Shape
) -> None:
    t0 = time.monotonic()

    def mark(what: str) -> None:
        print(f"  {time.monotonic() - t0:6.1f} s  {what}", flush=True)

    async with PgDatabase() as db:
        collectors = [Collector(tmp_path, broker.port, db.dsn, f"c{i}") for i in range(COLLECTORS)]
        try:
            for c in collectors:
                c.start()
            await asyncio.gather(*(c.ready() for c in collectors))
            await asyncio.sleep(1.0)  # subscriptions go out right after CONNACK
            victim, recorded = collectors[0], 0
            async with running_fleet(tmp_path, broker.port, shape) as fleet:
                mark(f"{shape.agents} agents connected")
                # 1. All three collectors share the load.
                recorded += await fleet.phase()
                stuck, _, _ = await fleet.flush(120)
                assert not stuck, f"{len(stuck)} buffers not drained, e.g. {stuck[:2]}"
                first = [c.ingest()["stored"] for c in collectors]
                assert min(first) > 0, f"load not split: {first}"
                mark(f"phase 1 recorded and acked; stored per collector {first}")
                # 2. One collector freezes while the broker hands it its share of batches, then
                # is killed holding them unacknowledged: the broker drops them with its session
                # and the agents' resends carry them to the other two.
                victim.pause()
                recorded += await fleet.phase()
                await asyncio.sleep(1.0)
                await asyncio.to_thread(victim.kill)
                mark("phase 2 recorded, one collector frozen then killed")
                # 3. It comes back (same client id) and takes its share again.
                victim.start()
                await victim.ready()
                await asyncio.sleep(1.0)
                recorded += await fleet.phase()
                mark("phase 3 recorded after the restart")
                stuck, failed, resent = await fleet.flush(300)
                mark(f"every buffer drained by acks; {resent} batches were resent")
                assert not failed, failed[:3]
                assert not stuck, f"{len(stuck)} buffers not drained by acks, e.g. {stuck[:2]}"
                assert resent > 0, "the killed collector held no batches: nothing was tested"

            ids = fleet.recorded_ids()
            rows = await stored_events(db.dsn)
            assert len(ids) == len(set(ids)) == recorded == shape.total
            pairs = [(r["device_id"], r["event_id"]) for r in rows]
            assert len(pairs) == len(set(pairs)), "an event was stored twice"
            assert len({(r["stream_id"], r["seq"]) for r in rows}) == len(rows)
            assert {e for _, e in pairs} == set(ids), "an acknowledged event is missing"
            stats = api_get(collectors[1].http, "/v1/stats")
            assert stats["events"] == shape.total and stats["devices"] == shape.agents
            # int(): PostgreSQL's sum() is numeric, which the API currently renders as "0".
            assert int(stats["gap_events"]) == 0 and int(stats["dropped_events"]) == 0
            per = [c.ingest() for c in collectors]
            stored = [p["stored"] for p in per]
            # The restarted collector's counters start again at zero: it took load again.
            assert min(stored) > 0, f"load not split: {stored}"
            assert sum(stored) <= shape.total
            mark(
                f"{shape.total} events stored once; per collector {stored} (the first restarted"
                f"); duplicates absorbed {sum(p['duplicates'] for p in per)}"
            )
        finally:
            codes = [stop(c.proc) for c in collectors if c.proc is not None]
        assert codes == [0] * COLLECTORS, [c.log.read_text()[-2000:] for c in collectors]
