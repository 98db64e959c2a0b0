"""The demo's live fleet: real agents (agent.agent.Agent, each with its own MQTT connection and
SQLite buffer) that first replay their history through the broker, then keep sending what
their plans say (scripts/demo_fleet.py), never anything else:
- only a device whose plan uses it today sends anything today, so no churned or paused device
  comes back and no new device appears;
- its live sessions use the features of today's planned session, so no feature spreads to a
  device (or segment) that did not use it.
On the day the demo starts, every planned session of today is already in the replayed history,
so live traffic adds events and session time but no active day, no feature and no first day:
the PES table printed at start stays exact while the demo serves (tests/integration/demo).
After midnight the next day's plans begin, as the fleet's real use would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.agent import Agent
from agent.settings import AgentSettings, MqttSettings
from scripts.demo_fleet import Device, Fleet, Session, history, session_events

FUTURE_DAYS = 60  # how far past today the live fleet can follow its plans


@dataclass(slots=True)
class LiveStats:
    sessions: int = 0
    events: int = 0


class Recorder(Protocol):
    """What live traffic needs of an agent (agent.agent.Agent; a fake in unit tests)."""

    async def record_many(self, events: Sequence[Mapping[str, Any]]) -> list[str]: ...


def agent_settings(work: Path, dev: Device, mqtt_port: int) -> AgentSettings:
    return AgentSettings(
        device_id=dev.id,
        device_type=dev.type.name,
        firmware_version=dev.firmware,
        account_id=dev.account.id,
        labels={"region": dev.account.region},
        buffer_path=work / "agents" / f"{dev.id}.db",
        mqtt=MqttSettings(port=mqtt_port),
        linger_ms=50,
        ack_timeout_s=5,
    )


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


async def backfill(agent: Agent, fleet: Fleet, dev: Device) -> int:
    """Replay the device's history through its agent, with the true past timestamps."""
    events = []
    for s in history(fleet, dev, _now_ms()):
        sid = f"s{s.day}-{dev.id}"
        events += session_events(s, sid)
    if events:
        await agent.record_many(events)
    return len(events)


async def run_fleet(
    fleet: Fleet,
    work: Path,
    mqtt_port: int,
    stop: asyncio.Event,
    serving: asyncio.Event,
    backfilled: asyncio.Future[tuple[int, float]],
    live_rate: float,
    live_seconds: float | None,
    live_done: asyncio.Future[LiveStats],
) -> None:
    """Backfill, report through `backfilled`; once `serving` is set, live sessions (`live_rate`
    a second) for `live_seconds` (None: until `stop`), flushed and reported through
    `live_done`; then idle until `stop`."""
    rng = random.Random(len(fleet.agents))
    plans = {d.id: d.plan(fleet.origin, fleet.days + FUTURE_DAYS) for d in fleet.agents}
    async with contextlib.AsyncExitStack() as stack:
        agents: list[tuple[Agent, Device]] = []
        for dev in fleet.agents:
            agent = await stack.enter_async_context(Agent(agent_settings(work, dev, mqtt_port)))
            agents.append((agent, dev))
        t0 = time.monotonic()
        counts = await asyncio.gather(*(backfill(a, fleet, d) for a, d in agents))
        if not await _flush(agents):
            print("warning: some agents still hold unacknowledged events: "
                  "the tables below are partial", file=sys.stderr)  # fmt: skip
        backfilled.set_result((sum(counts), time.monotonic() - t0))
        stats = LiveStats()
        waiters = [asyncio.create_task(e.wait()) for e in (stop, serving)]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        deadline = None if live_seconds is None else time.monotonic() + live_seconds
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            await live_session(agents, plans, fleet, rng, stats)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(live_rate))
        await _flush(agents)
        live_done.set_result(stats)
        await stop.wait()


async def _flush(agents: Sequence[tuple[Agent, Device]]) -> bool:
    return all(await asyncio.gather(*(a.flush(timeout=120) for a, _ in agents)))


async def live_session(
    agents: Sequence[tuple[Recorder, Device]],
    plans: Mapping[str, Sequence[Session | None]],
    fleet: Fleet,
    rng: random.Random,
    stats: LiveStats,
    now: int | None = None,
) -> None:
    """One more session of a device the plan uses today, with today's planned features."""
    now = _now_ms() if now is None else now
    day = (now - fleet.day_start_ms(0)) // 86_400_000
    today = [(a, d, plans[d.id][day]) for a, d in agents if day < len(plans[d.id])]
    using = [(a, d, s) for a, d, s in today if s is not None]
    if not using:
        return
    agent, dev, planned = rng.choice(using)
    minutes = max(1, round(planned.minutes * rng.lognormvariate(0, 0.35)))
    start = now - minutes * 60_000
    if start < fleet.day_start_ms(day):
        return  # just after midnight: this session would begin yesterday
    s = Session(day, start, minutes, planned.features, planned.firmware)
    events = session_events(s, f"live-{stats.sessions}-{dev.id}")
    await agent.record_many(events)
    stats.sessions += 1
    stats.events += len(events)
