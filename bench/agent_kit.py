"""What the agent benches share: an agent's settings and config file, starting and stopping a
`pes-agent run`, its memory and CPU from /proc (bench/agent.py, bench/agent_drain.py,
bench/e2e.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from agent.settings import AgentSettings
from agent.settings import MqttSettings as AgentMqttSettings

# Issue 17's targets (issue 9's were 50,000 events/s and 40 MB for all of them).
TARGET_RECORD, TARGET_MANY, TARGET_SOCKET = ">= 100000", ">= 200000", ">= 200000"
TARGET_RSS, TARGET_RSS_IDLE, TARGET_DRAIN_RATIO = "<= 30", "<= 26", ">= 0.8"
AGENT_ENV = {"MALLOC_ARENA_MAX": "2"}  # as deploy/systemd/pes-agent.service sets it


def _say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


def _settings(d: Path, port: int, device: str = "gw-bench", **kw: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "device_id": device,
        "device_type": "press-x",
        "firmware_version": "2.1",
        "account_id": "acme",
        "labels": {"site": "plant-3"},
        "buffer_path": d / f"{device}.db",
        "mqtt": AgentMqttSettings(port=port, reconnect_initial_s=0.1, reconnect_max_s=1.0),
    }
    return AgentSettings(**(values | kw))


def _toml(s: AgentSettings, path: Path) -> Path:
    doc = msgspec.to_builtins(s, enc_hook=str)  # Path -> str (no password in these settings)
    doc = {k: v for k, v in doc.items() if v is not None}
    mqtt, labels = doc.pop("mqtt"), doc.pop("labels")
    mqtt = {k: v for k, v in mqtt.items() if v is not None and k != "password"}
    lines = [f"{k} = {json.dumps(v)}" for k, v in doc.items()]
    lines += ["[labels]", *(f"{k} = {json.dumps(v)}" for k, v in labels.items())]
    lines += ["[mqtt]", *(f"{k} = {json.dumps(v)}" for k, v in mqtt.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _proc_status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    raise KeyError(key)


def _rss_mb(pid: int) -> float:
    return _proc_status(pid, "VmRSS") / 1024


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_agent(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(conf)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **AGENT_ENV},
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _wait_socket(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_unix_connection(str(path))
            w.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(path)
