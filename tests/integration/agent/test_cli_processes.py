"""`pes-agent run` and `pes-agent emit` as real processes sharing one buffer file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.broker import LocalBroker
from tests.kits.agent import FakeCollector

pytestmark = pytest.mark.timeout(60)


def write_config(tmp_path: Path, port: int) -> Path:
    conf = tmp_path / "agent.toml"
    conf.write_text(
        'device_id = "gw-cli"\ndevice_type = "gateway-x1"\nfirmware_version = "4.2.1"\n'
        f'account_id = "acme"\nbuffer_path = "{tmp_path / "buffer.db"}"\nlinger_ms = 20\n'
        f'[labels]\nsite = "plant-3"\n[mqtt]\nport = {port}\nreconnect_initial_s = 0.05\n'
    )
    return conf


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


async def test_emit_from_one_process_reaches_the_collector_through_run(
    broker: LocalBroker, tmp_path: Path
) -> None:
    conf = write_config(tmp_path, broker.port)
    log = (tmp_path / "run.log").open("wb")
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "run", "--config", str(conf),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with FakeCollector(broker.port) as collector:
            emitted = await asyncio.to_thread(
                cli, "emit", "--config", str(conf), "--kind", "feature_use",
                "--feature", "calibrate", "--label", "line=a", "--ts", "2026-03-09T10:00:00Z",
            )  # fmt: skip
            assert emitted.returncode == 0, emitted.stderr
            event_id = emitted.stdout.strip()
            await collector.wait_for("gw-cli", event_id, timeout=20)
            run.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(run.wait(), 20) == 0
        status = await asyncio.to_thread(cli, "status", "--config", str(conf))
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["buffer_depth"] == 0 and doc["last_seq"] == 1 and doc["stream_id"]
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "run.log").read_text()


def test_user_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    conf = write_config(tmp_path, 1)
    bad = cli("emit", "--config", str(conf), "--kind", "feature_use")
    assert bad.returncode == 2 and "feature_use needs a feature" in bad.stderr
    bad = cli("status", "--config", str(conf), env={"PES_AGENT_DEVICE_ID": "no spaces"})
    assert bad.returncode == 2 and "device_id" in bad.stderr
    bad = cli("emit", "--config", str(conf), "--kind", "x", "--ts", "yesterday")
    assert bad.returncode == 2 and "--ts" in bad.stderr
    for r in (bad, cli("status", "--config", str(tmp_path / "missing.toml"))):
        assert r.returncode == 2 and "Traceback" not in r.stderr
