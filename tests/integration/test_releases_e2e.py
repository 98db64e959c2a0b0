"""Release impact end to end: a real `pes-agent run` publishes through a real Mosquitto to a
real `pes-collector serve`; its firmware changes mid-run (1.0 -> 2.0 by SIGHUP, 2.0 -> 3.0
across a restart), and /v1/releases and /v1/rollout report exactly those transitions (pending:
their post windows have not ended) and the three versions seen today."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from devkit import LocalBroker
from tests.kits.pes import api_get, stop
from tests.kits.real_agent import Collector, agent_config, feed, start_agent, until, wait_socket

pytestmark = pytest.mark.timeout(180)
DEVICE = "gw-rel"


async def _record(sock: Path, proc: subprocess.Popen[bytes], n: int) -> None:
    ids: set[str] = set()
    await wait_socket(sock, proc)
    assert await feed(sock, ids, lines=n) == n


async def test_firmware_changes_reach_the_release_report(
    tmp_path: Path, broker: LocalBroker
) -> None:
    collector = Collector(tmp_path, broker.port)
    await collector.start()
    version = tmp_path / "firmware"
    version.write_text("1.0\n")
    conf = agent_config(tmp_path, broker.port, DEVICE, firmware_file=version)
    sock, log = tmp_path / f"{DEVICE}.sock", tmp_path / "agent.log"
    proc = start_agent(conf, log)

    async def stored_at_least(n: int) -> None:
        async def count() -> int:
            return len(await collector.rows("event_id"))

        deadline = asyncio.get_running_loop().time() + 60
        while await count() < n:
            assert asyncio.get_running_loop().time() < deadline, await count()
            await asyncio.sleep(0.25)

    try:
        await _record(sock, proc, 40)
        await stored_at_least(40)
        version.write_text("2.0\n")
        proc.send_signal(signal.SIGHUP)
        await until(lambda: "firmware_version 1.0 -> 2.0" in log.read_text(), 30, "reload")
        await _record(sock, proc, 40)
        await stored_at_least(80)
        version.write_text("3.0\n")
        assert stop(proc, 30) == 0
        proc = start_agent(conf, log)
        await _record(sock, proc, 40)
        await stored_at_least(120)

        rows = await asyncio.to_thread(api_get, collector.http, "/v1/releases")
        today = await asyncio.to_thread(api_get, collector.http, "/v1/rollout")
    finally:
        stop(proc, 30)
        collector.stop()
    releases = sorted({(r["device_type"], r["from"], r["to"]) for r in rows})
    assert releases == [("gateway-x1", "1.0", "2.0"), ("gateway-x1", "2.0", "3.0")]
    assert len(rows) == 6  # three metrics each
    for r in rows:
        assert (r["transitions"], r["pending"], r["measurable"]) == (1, 1, 0), r
        assert r["did"] is None and r["significant"] is None
    versions = {(v["firmware"], v["first_day"], v["last_day"]) for v in today["versions"]}
    days = {v[1] for v in versions} | {v[2] for v in versions}
    assert {v[0] for v in versions} == {"1.0", "2.0", "3.0"} and len(days) <= 2
    last_day = max(r["day"] for r in today["days"])
    on_last = {r["firmware"]: r for r in today["days"] if r["day"] == last_day}
    assert "3.0" in on_last and on_last["3.0"]["active"] == 1
    assert all(0 < r["share"] <= 1 for r in today["days"])
    assert "Traceback" not in log.read_text()
