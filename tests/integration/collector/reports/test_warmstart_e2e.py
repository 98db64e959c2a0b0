"""Warm start through real processes: `pes-collector import` writes events, `serve` answers
/v1/pes and /v1/releases (and keeps its analytics state and its release Fleet in files on the
way: after the full load or build and at SIGTERM), more events are imported while it is down,
and the restarted `serve` reads the files and then only the new rows: its answers equal those of
a `serve` that starts without the files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kits.analytics import random_fleet
from tests.kits.pes import api_get, start_collector, stop, wait_http, write_collector_config

QUERIES: list[dict[str, Any]] = [
    {"start": "2026-02-01", "end": "2026-02-21", "group_by": "device_type,label:site"},
    {"start": "2026-01-10", "end": "2026-02-28", "group_by": "firmware_version"},
]


def _import(conf: Path, events: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    res = subprocess.run(
        [sys.executable, "-m", "collector.cli", "import", str(path), "--config", str(conf)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr


def _answers(conf: Path, port: int, log: Path) -> list[Any]:
    proc = start_collector(conf, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, proc)
        return [api_get(port, "/v1/pes", **q) for q in QUERIES] + [
            api_get(port, "/v1/releases"),  # the warm-up's default report
            api_get(port, "/v1/releases", start="2026-01-20", end="2026-02-20", window="5"),
        ]
    finally:
        assert stop(proc, 30) == 0, log.read_text()


@pytest.mark.timeout(240)
def test_a_restarted_collector_answers_from_its_kept_state_as_from_scratch(
    tmp_path: Path,
) -> None:
    events = sorted(random_fleet(random.Random(21), history=60, devices=16), key=lambda e: e["ts"])
    half = len(events) // 2
    # Ingest off: the events come from `import`, no broker needed.
    conf, port = write_collector_config(tmp_path, 1, extra="enabled = false")
    snapshot = tmp_path / "collector.db.analytics.npz"
    releases = tmp_path / "collector.db.releases.npz"
    _import(conf, events[:half], tmp_path / "a.jsonl")
    _answers(conf, port, tmp_path / "first.log")
    assert snapshot.exists(), (tmp_path / "first.log").read_text()
    assert releases.exists(), (tmp_path / "first.log").read_text()
    _import(conf, events[half:], tmp_path / "b.jsonl")  # while no collector runs
    warm = _answers(conf, port, tmp_path / "warm.log")
    log = (tmp_path / "warm.log").read_text()
    assert "analytics state read from" in log and "refused" not in log, log
    assert "release Fleet read from" in log, log  # and updated for the imported devices
    snapshot.unlink()
    releases.unlink()
    cold = _answers(conf, port, tmp_path / "cold.log")
    assert "no analytics snapshot" in (tmp_path / "cold.log").read_text()
    assert "no release file" in (tmp_path / "cold.log").read_text()
    assert warm == cold
    assert warm[0] and warm[1] and warm[3]
