"""A firmware change under a running `pes-agent run` (real process, real Mosquitto): the agent
reads `firmware_file` at start and on SIGHUP; events recorded before a change keep the version
they were recorded under even though they are still buffered when it changes, events after it
carry the new one, across a SIGHUP and across a restart."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devkit import LocalBroker
from tests.kits.agent import FakeCollector
from tests.kits.pes import stop
from tests.kits.real_agent import agent_config, feed, start_agent, until, wait_socket

pytestmark = pytest.mark.timeout(120)
DEVICE = "gw-fw"


def status(conf: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "agent.cli", "status", "--config", str(conf)],
                         capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


async def record(sock: Path, proc: subprocess.Popen[bytes], n: int) -> set[str]:
    ids: set[str] = set()
    await wait_socket(sock, proc)
    assert await feed(sock, ids, lines=n) == n
    assert len(ids) == n
    return ids


async def test_firmware_change_by_sighup_and_by_restart(
    tmp_path: Path, broker: LocalBroker
) -> None:
    version = tmp_path / "firmware"
    version.write_text("1.0\n")
    # firmware_version = "4.2.1" from agent_config is the fallback: it must never show up.
    conf = agent_config(tmp_path, broker.port, DEVICE, firmware_file=version)
    sock, log = tmp_path / f"{DEVICE}.sock", tmp_path / "agent.log"
    # No collector yet: everything recorded stays in the buffer while the firmware changes.
    proc = start_agent(conf, log)
    try:
        v1 = await record(sock, proc, 300)
        version.write_text("2.0\n")
        proc.send_signal(signal.SIGHUP)
        await until(lambda: "firmware_version 1.0 -> 2.0" in log.read_text(), 30, "reload")
        v2 = await record(sock, proc, 300)
        assert status(conf)["firmware_version"] == "2.0"
        assert status(conf)["buffer_depth"] == 600  # the 1.0 events are still buffered

        # A SIGHUP with an unreadable file keeps the current version (and the process).
        version.write_text("not/a valid\x01version\n")
        proc.send_signal(signal.SIGHUP)
        await until(lambda: "firmware_version stays 2.0" in log.read_text(), 30, "refusal")
        v2 |= await record(sock, proc, 100)

        version.write_text("3.0\n")  # changed while the agent is down: read at the next start
        assert stop(proc, 30) == 0
        proc = start_agent(conf, log)
        v3 = await record(sock, proc, 300)
        assert status(conf)["firmware_version"] == "3.0"

        async with FakeCollector(broker.port) as collector:
            deadline = time.monotonic() + 60
            while len(collector.wire[DEVICE]) < 1000:
                assert time.monotonic() < deadline, len(collector.wire[DEVICE])
                await asyncio.sleep(0.2)
    finally:
        stop(proc, 30)
    got = collector.wire[DEVICE]
    assert set(got) == v1 | v2 | v3
    for ids, expected in ((v1, "1.0"), (v2, "2.0"), (v3, "3.0")):
        assert {got[i].firmware_version for i in ids} == {expected}
    assert "Traceback" not in log.read_text()
