"""The fault-injection rig: a real Mosquitto, `pes-agent run` processes behind a NetCut proxy,
a `pes-collector serve` process, each its own OS process, and the tally that turns one
scenario into a row of the reliability table (docs/reliability.md).

Counting: an event is *accepted* when an agent answered "ok" with its id on the socket (the
caller's only promise). *Stored* counts accepted ids found in the collector's events table,
*duplicated* the extra rows of any id stored more than once. *Dropped* is what the agents
reported (drop ranges, counted by the collector), *refused* the lines answered with an error
(the caller knows they were not taken). *Lost* is accepted - stored - dropped: an accepted
event that is neither stored nor reported. Lines that were in flight when an agent was killed
may be stored without ever being answered; they are at-least-once's extra, not counted."""

from __future__ import annotations

import asyncio
import collections
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.buffer import Buffer
from devkit.broker import LocalBroker
from tests.kits.real_agent import (
    Collector,
    agent_config,
    feed,
    kill9,
    start_agent,
    until,
    wait_socket,
)
from tests.kits.reliability.netcut import NetCut


@dataclass
class Outcome:
    scenario: str
    accepted: int
    stored: int
    duplicated: int
    lost: int
    dropped: int
    refused: int
    gaps: int
    recover_s: float
    fault: str = ""
    failures: list[str] = field(default_factory=list)  # scenario-specific checks that failed

    @property
    def ok(self) -> bool:
        return not self.failures and self.duplicated == 0 and self.lost == 0 and self.gaps == 0

    HEADER = (
        "scenario",
        "accepted",
        "stored",
        "duplicated",
        "lost unreported",
        "reported dropped",
        "refused at intake",
        "time to recover (s)",
    )

    def cells(self) -> tuple[str, ...]:
        return (
            self.scenario,
            f"{self.accepted:,}",
            f"{self.stored:,}",
            str(self.duplicated),
            str(self.lost),
            f"{self.dropped:,}",
            f"{self.refused:,}",
            f"{self.recover_s:.1f}",
        )


@dataclass
class AgentProc:
    device_id: str
    conf: Path
    sock: Path
    db: Path
    prefix: tuple[str, ...] = ()
    cli: tuple[str, ...] = ("-m", "agent.cli")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db_view(self) -> Path:
        """The buffer file as this process sees it: through /proc/PID/root when the agent
        runs in its own mount namespace (a private tmpfs), else the path itself."""
        if self.prefix and self.proc is not None and self.proc.poll() is None:
            return Path(f"/proc/{self.proc.pid}/root{self.db}")
        return self.db


@dataclass
class Rig:
    """Use as `async with Rig(tmp, ...) as rig:`; the scenario drives the faults."""

    tmp: Path
    agents: int = 3
    storage_url: str | None = None
    agent_extra: dict[str, Any] = field(default_factory=dict)
    rate_eps: int = 200  # per agent, while feeding
    seed: int = 7

    def __post_init__(self) -> None:
        self.broker = LocalBroker()
        self.acked: set[str] = set()
        self.errors: list[bytes] = []
        self.fleet: list[AgentProc] = []
        self.rng = random.Random(self.seed)
        self._stop_feeding = asyncio.Event()
        self._feeders: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Rig:
        await asyncio.to_thread(self.broker.start)
        self.net = await NetCut(self.broker.port).__aenter__()
        self.collector = Collector(self.tmp, self.broker.port, self.storage_url)
        await self.collector.start()
        for i in range(self.agents):
            self.add_agent(f"gw-{i}")
        await asyncio.gather(*(self.start_agent(a) for a in self.fleet))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_feeding()
        for a in self.fleet:
            if a.proc is not None and a.proc.poll() is None:
                kill9(a.proc)
        self.collector.stop()
        await self.net.__aexit__(None, None, None)
        await asyncio.to_thread(self.broker.cleanup)

    def add_agent(self, device_id: str, **extra: Any) -> AgentProc:
        kw: dict[str, Any] = {"auto_sessions": False, "max_buffer_mb": 256}
        kw |= self.agent_extra | extra
        prefix, cli = kw.pop("prefix", ()), kw.pop("cli", ("-m", "agent.cli"))
        kw.setdefault("buffer_path", self.tmp / f"{device_id}.db")
        kw.setdefault("socket_path", self.tmp / f"{device_id}.sock")
        mqtt = {"keepalive": 5}  # a dead link is noticed within seconds, as in the field
        conf = agent_config(self.tmp, self.net.port, device_id, mqtt=mqtt, **kw)
        a = AgentProc(device_id, conf, kw["socket_path"], kw["buffer_path"], prefix, cli)
        self.fleet.append(a)
        return a

    async def start_agent(self, a: AgentProc) -> None:
        log = self.tmp / f"{a.device_id}.log"
        a.proc = start_agent(a.conf, log, prefix=a.prefix, cli=a.cli)
        await wait_socket(a.sock, a.proc)

    def kill_agent(self, a: AgentProc) -> None:
        if a.proc is not None:
            kill9(a.proc)

    # -- intake -------------------------------------------------------------------------------

    def start_feeding(self) -> None:
        self._stop_feeding.clear()
        self._feeders = [asyncio.create_task(self._feed(a)) for a in self.fleet]

    async def stop_feeding(self) -> None:
        self._stop_feeding.set()
        await asyncio.gather(*self._feeders)
        self._feeders = []

    async def _feed(self, a: AgentProc) -> None:
        chunk = 20
        pace = chunk / self.rate_eps
        while not self._stop_feeding.is_set():
            if a.proc is not None and a.proc.poll() is None:  # else: killed, being restarted
                await feed(
                    a.sock,
                    self.acked,
                    chunk=chunk,
                    errors=self.errors,
                    until=self._stop_feeding,
                    pace_s=pace,
                )
            await asyncio.sleep(0.05)

    # -- outcome ------------------------------------------------------------------------------

    def _settled(self) -> bool:
        for a in self.fleet:
            if a.proc is None or a.proc.poll() is not None:
                return False
            with Buffer(a.db_view) as buf:
                if buf.depth() or buf.pending_drops(1):
                    return False
        return True

    async def settle(self, since: float, timeout: float = 180) -> float:
        """Wait until every agent's buffer is empty and its drop ranges acknowledged (the
        collector committed them all); returns the seconds since `since` (time.monotonic)."""
        await until(self._settled, timeout, "agents drained")
        return time.monotonic() - since

    async def outcome(self, scenario: str, recover_s: float, fault: str = "") -> Outcome:
        rows = await self.collector.rows()
        counts = collections.Counter(e for _, e in rows)
        stored = sum(1 for e in self.acked if e in counts)
        devs = [await asyncio.to_thread(self.collector.device, a.device_id) for a in self.fleet]
        dropped = sum(d["dropped_events"] for d in devs)
        return Outcome(
            scenario=scenario,
            accepted=len(self.acked),
            stored=stored,
            duplicated=sum(n - 1 for n in counts.values()),
            lost=len(self.acked) - stored - dropped,
            dropped=dropped,
            refused=len(self.errors),
            gaps=sum(d["gap_events"] for d in devs),
            recover_s=recover_s,
            fault=fault,
        )

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("*.log")))
