"""A slice of the scale test's fleet, run as its own process: `count` in-process agents
(`agent.agent.Agent`, each its own MQTT connection and SQLite buffer) driven by line commands on
stdin, answering one JSON line each on stdout.

Why processes: paho's network loop uses select(), which cannot watch file descriptors above
1023, and every agent holds six (its socket, paho's wake-up pair, the SQLite database, WAL and
shared memory): one process tops out near 170 agents, so the fleet is split into slices of 100.

    python fleet.py PORT FIRST COUNT DIR ROUNDS PER_ROUND
    stdin:  phase | flush SECONDS | close
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.agent import Agent
from agent.settings import AgentSettings, MqttSettings


def settings(port: int, i: int, dir: Path) -> AgentSettings:
    return AgentSettings(
        device_id=f"gw-{i:04d}",
        device_type="press-x" if i % 2 else "press-y",
        firmware_version=f"2.{i % 3}",
        account_id=f"acct-{i % 17}",
        buffer_path=dir / f"gw-{i:04d}.db",
        mqtt=MqttSettings(port=port, reconnect_initial_s=0.1, reconnect_max_s=2.0),
        linger_ms=50,
        batch_max_events=100,
        ack_timeout_s=5.0,  # a batch the killed collector took is resent after this
        auto_sessions=False,  # only the events recorded here, so the stored set is known
        socket_enabled=False,
    )


async def record_phase(agents: list[Agent], rounds: int, per_round: int) -> list[str]:
    ids: list[str] = []
    for r in range(rounds):

        async def one(agent: Agent, r: int = r) -> list[str]:
            return await asyncio.gather(
                *(agent.record("feature_use", f"f{(r + k) % 5}") for k in range(per_round))
            )

        for got in await asyncio.gather(*(one(a) for a in agents)):
            ids.extend(got)
        await asyncio.sleep(0.2)
    return ids


def say(**msg: object) -> None:
    print(json.dumps(msg), flush=True)


async def main(port: int, first: int, count: int, dir: Path, rounds: int, per_round: int) -> None:
    # Each agent's buffer work runs in a worker thread; 100 agents need more than the default.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=16))
    agents = [Agent(settings(port, i, dir), idle_poll_s=5.0) for i in range(first, first + count)]
    for k in range(0, count, 50):  # connect in waves of 50, like a fleet coming up
        await asyncio.gather(*(a.__aenter__() for a in agents[k : k + 50]))
    for _ in range(900):  # generous: the machine may be busy with other tests
        if all(a.stats().connected for a in agents):
            break
        await asyncio.sleep(0.1)
    say(ready=count, connected=sum(a.stats().connected for a in agents))
    ids_file = dir / "recorded-ids.txt"
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().split():
            if line[0] == "phase":
                ids = await record_phase(agents, rounds, per_round)
                with ids_file.open("a") as fh:
                    fh.write("".join(f"{i}\n" for i in ids))
                say(recorded=len(ids))
            elif line[0] == "flush":
                drained = await asyncio.gather(*(a.flush(float(line[1])) for a in agents))
                stuck = [repr(a.stats()) for a, ok in zip(agents, drained, strict=True) if not ok]
                failed = [repr(a.failure) for a in agents if a.failed.is_set()]
                resent = sum(a.stats().publisher.batches_resent for a in agents)
                say(stuck=stuck, failed=failed, resent=resent)
            elif line[0] == "close":
                break
    finally:
        await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)
    say(closed=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    a = sys.argv[1:]
    Path(a[3]).mkdir(parents=True, exist_ok=True)
    asyncio.run(main(int(a[0]), int(a[1]), int(a[2]), Path(a[3]), int(a[4]), int(a[5])))
