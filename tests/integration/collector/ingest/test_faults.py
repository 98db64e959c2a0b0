"""Collectors killed with SIGKILL in the middle of ingest, and two collectors sharing one
subscription: every event stored exactly once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from agent.agent import Agent
from agent.settings import AgentSettings, MqttSettings
from devkit.broker import LocalBroker
from tests.kits.pes import (
    PgDatabase,
    api_get,
    start_collector,
    stop,
    wait_http,
    write_collector_config,
)


def agent_settings(tmp: Path, port: int, i: int) -> AgentSettings:
    return AgentSettings(
        device_id=f"gw-{i}",
        device_type="press-x",
        firmware_version="2.1",
        account_id="acme",
        buffer_path=tmp / f"gw-{i}.db",
        mqtt=MqttSettings(port=port, reconnect_initial_s=0.05, reconnect_max_s=0.5),
        linger_ms=10,
        batch_max_events=100,
        ack_timeout_s=2.0,
        auto_sessions=False,  # exact event counts: no session events added by the agent
    )


async def produce(agents: list[Agent], per_agent: int) -> list[str]:
    ids: list[str] = []

    async def one(agent: Agent) -> None:
        for k in range(per_agent // 50):
            got = await asyncio.gather(
                *(agent.record("feature_use", "calibrate") for _ in range(50))
            )
            ids.extend(got)
            await asyncio.sleep(0.01 * (k % 3))

    await asyncio.gather(*(one(a) for a in agents))
    return ids


async def stored_ids(url: str) -> list[tuple[str, str]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return list(db.execute("SELECT device_id, event_id FROM events"))
    con = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await con.fetch("SELECT device_id, event_id FROM events")]
    finally:
        await con.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/collector.db"
    else:
        async with PgDatabase() as db:
            yield db.dsn


async def test_collector_killed_mid_batch_loses_nothing_counts_nothing_twice(
    tmp_path: Path, broker: LocalBroker, storage_url: str
) -> None:
    conf, http = write_collector_config(tmp_path, broker.port, storage_url=storage_url)
    log = tmp_path / "collector.log"
    proc = start_collector(conf, log)
    await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http}/healthz", 30, proc)
    rng = random.Random(4)
    async with (
        Agent(agent_settings(tmp_path, broker.port, 1)) as a1,
        Agent(agent_settings(tmp_path, broker.port, 2)) as a2,
        Agent(agent_settings(tmp_path, broker.port, 3)) as a3,
    ):
        producing = asyncio.create_task(produce([a1, a2, a3], 2000))
        kills = 0
        while not producing.done() or kills < 3:
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            proc.send_signal(signal.SIGKILL)  # no chance to finish the transaction or ack
            await asyncio.to_thread(proc.wait, 10)
            kills += 1
            proc = start_collector(conf, log)
            await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http}/healthz", 30, proc)
        ids = await producing
        assert all(await asyncio.gather(*(a.flush(90) for a in (a1, a2, a3))))
    try:
        rows = await stored_ids(storage_url)
        assert len(ids) == 6000 and kills >= 3
        assert len(rows) == len(set(rows)), "an event was stored twice"
        assert {e for _, e in rows} == set(ids), "an acknowledged event is missing"
        assert api_get(http, "/v1/stats")["events"] == 6000
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]


@pytest.mark.postgres
async def test_two_collectors_share_the_load_on_postgres(
    tmp_path: Path, broker: LocalBroker
) -> None:
    async with PgDatabase() as db:
        procs, ports = [], []
        for name in ("c1", "c2"):
            conf, http = write_collector_config(
                tmp_path, broker.port, storage_url=db.dsn, name=name
            )
            procs.append(start_collector(conf, tmp_path / f"{name}.log"))
            ports.append(http)
        try:
            for p, http in zip(procs, ports, strict=True):
                await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http}/healthz", 30, p)
            await asyncio.sleep(1.0)  # both subscribed before the first batch
            agents = [Agent(agent_settings(tmp_path, broker.port, i)) for i in range(6)]
            for a in agents:
                await a.__aenter__()
            try:
                ids = await produce(agents, 500)
                assert all(await asyncio.gather(*(a.flush(60) for a in agents)))
            finally:
                for a in agents:
                    await a.__aexit__(None, None, None)
            per = [api_get(http, "/v1/stats")["ingest"]["stored"] for http in ports]
            rows = await stored_ids(db.dsn)
            assert len(rows) == len(set(rows)) == len(ids) == 3000
            assert sum(per) == 3000 and min(per) > 0, f"load not split: {per}"
        finally:
            for p in procs:
                stop(p)
