"""`pes-collector serve` as a real process: it serves the API with no broker and keeps retrying."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from devkit.broker import LocalBroker, free_port
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
