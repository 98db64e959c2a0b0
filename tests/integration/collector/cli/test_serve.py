"""`pes-collector serve` as a real process: it serves the API with no broker and keeps retrying."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

from devkit.broker import LocalBroker, free_port
from tests.kits.analytics import event_day, random_fleet
from tests.kits.pes import start_collector, stop, wait_http, write_collector_config


def test_serves_api_without_broker_then_connects_when_broker_appears(tmp_path: Path) -> None:
    mqtt_port = free_port()  # nothing listens here yet
    conf, http = write_collector_config(tmp_path, mqtt_port)
    proc = start_collector(conf, tmp_path / "collector.log")
    broker = LocalBroker(port=mqtt_port)
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz", proc=proc)
        ready = httpx.get(f"http://127.0.0.1:{http}/readyz")
        assert ready.status_code == 503 and ready.json()["broker"] == "disconnected"
        spec = httpx.get(f"http://127.0.0.1:{http}/openapi.json").json()
        assert "/v1/pes" in spec["paths"]
        broker.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if httpx.get(f"http://127.0.0.1:{http}/readyz").status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("collector never connected to the broker")
    finally:
        code = stop(proc)
        broker.cleanup()
    assert code == 0, (tmp_path / "collector.log").read_text()


def test_api_role_is_ready_once_its_analytics_state_is_warm(tmp_path: Path) -> None:
    """`serve` builds the analytics state and the default PES table at start; an API replica
    (role api) says ready only then, and answers from that state."""
    events = random_fleet(random.Random(7), history=40, devices=12)
    conf, http = write_collector_config(tmp_path, free_port())  # role api uses no broker
    lines = tmp_path / "e.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in events))
    imported = subprocess.run(
        [sys.executable, "-m", "collector.cli", "import", str(lines), "--config", str(conf)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    proc = start_collector(conf, tmp_path / "collector.log", "--role", "api")
    try:
        wait_http(f"http://127.0.0.1:{http}/readyz", timeout=60, proc=proc)
        ready = httpx.get(f"http://127.0.0.1:{http}/readyz").json()
        assert ready == {"store": "ok", "broker": "not used", "analytics": "ok"}
        log = (tmp_path / "collector.log").read_text()
        assert "analytics state warm in" in log, log
        last = max(event_day(e) for e in events)
        rows = httpx.get(
            f"http://127.0.0.1:{http}/v1/pes",
            params={"group_by": "", "start": str(last - timedelta(days=29)), "end": str(last)},
            headers={"Authorization": "Bearer test-token"},
        ).json()
        assert len(rows) == 1 and rows[0]["active"] > 0, rows
    finally:
        code = stop(proc)
    assert code == 0, (tmp_path / "collector.log").read_text()
