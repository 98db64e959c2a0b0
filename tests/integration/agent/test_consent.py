"""Consent: with `collection = "off"` a real `pes-agent run` stores nothing new, tells every
caller why (socket reply, `pes-agent emit` exit status and message), and says so in its
retained status and in `pes-agent status`. What was buffered before consent was withdrawn is
still delivered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.intake import COLLECTION_OFF
from devkit import LocalBroker
from shared import codec
from shared.models import AgentStatus
from shared.mqtt import MqttClient
from shared.topics import status_topic
from tests.kits.agent import FakeCollector, fast_mqtt
from tests.kits.pes import stop
from tests.kits.real_agent import agent_config, feed, start_agent, wait_socket

pytestmark = pytest.mark.timeout(90)
DEVICE = "gw-consent"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True,
                          text=True, timeout=30)  # fmt: skip


async def retained_status(port: int) -> AgentStatus | None:
    reader = MqttClient(fast_mqtt(port), client_id="consent-status-reader")
    reader.subscribe(status_topic(DEVICE))
    async with reader:
        with contextlib.suppress(TimeoutError):
            while True:
                msg = await asyncio.wait_for(reader.messages.get(), 1.0)
                if msg.retain:
                    return AgentStatus.model_validate(codec.decode(msg.payload))
    return None


async def test_collection_off_stores_nothing_new_and_says_so(
    tmp_path: Path, broker: LocalBroker
) -> None:
    on = tmp_path / "on.toml"  # agent_config writes <device>.toml: keep a copy
    on.write_text(agent_config(tmp_path, broker.port, DEVICE).read_text())
    # One event recorded while consent was given (no agent running: straight into the buffer).
    done = cli("emit", "--config", str(on), "--kind", "feature_use", "--feature", "calibrate",
               "--session-id", "s-1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = done.stdout.strip()
    off = agent_config(tmp_path, broker.port, DEVICE, collection="off")
    done = cli("emit", "--config", str(off), "--kind", "feature_use", "--feature", "x")
    assert done.returncode == 2 and "collection is off" in done.stderr, done

    sock, log = tmp_path / f"{DEVICE}.sock", tmp_path / "agent.log"
    proc = start_agent(off, log)
    try:
        await wait_socket(sock, proc)
        ids: set[str] = set()
        errors: list[bytes] = []
        assert await feed(sock, ids, lines=50, errors=errors) == 50
        assert not ids and len(errors) == 50
        assert all(json.loads(e) == {"ok": False, "error": COLLECTION_OFF} for e in errors)
        via_socket = cli("emit", "--config", str(on), "--kind", "session_start", "--via", "socket")
        assert via_socket.returncode == 1 and "collection is off" in via_socket.stderr

        async with FakeCollector(broker.port) as collector:
            deadline = time.monotonic() + 30
            while before not in collector.wire[DEVICE]:  # the consented event still goes
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            deadline = time.monotonic() + 30
            while (status := await retained_status(broker.port)) is None or (
                status.state != "online"
            ):
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.2)
            assert status.collection == "off"
            assert set(collector.wire[DEVICE]) == {before}
        report = json.loads(cli("status", "--config", str(off)).stdout)
        assert report["collection"] == "off" and report["last_seq"] == 1
    finally:
        assert stop(proc, 30) == 0
    assert "Traceback" not in log.read_text()
