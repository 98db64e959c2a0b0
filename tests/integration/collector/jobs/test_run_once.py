"""Jobs that run once across a collector group (Store.job), on both backends: one holder at a
time, no second run within the gap, and two real `pes-collector alerts --once` processes racing
on one database POST a breach once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collector.jobs.housekeeping import housekeeping_once
from collector.settings import CollectorSettings, StorageSettings
from collector.storage import Store, open_store
from tests.kits.pes import PgDatabase


async def test_one_holder_at_a_time_and_no_rerun_within_the_gap(store: Store) -> None:
    async with store.job("j", 3600) as first:
        assert first
        async with store.job("j", 0) as second:  # another member while the first runs
            assert not second
        async with store.job("other", 3600) as other:  # jobs are independent
            assert other
    async with store.job("j", 3600) as again:  # started less than an hour ago
        assert not again
    async with store.job("j", 0) as due:
        assert due


@pytest.mark.postgres
async def test_housekeeping_runs_once_across_two_collectors(tmp_path: Path) -> None:
    async with PgDatabase() as db, open_store(db.dsn) as a, open_store(db.dsn) as b:
        settings = CollectorSettings(storage=StorageSettings(url=db.dsn))
        results = await asyncio.gather(
            housekeeping_once(settings, a), housekeeping_once(settings, b)
        )
        assert sorted(r is None for r in results) == [False, True]
        assert await a.create_partitions(datetime.now(UTC).date()) == 0  # the winner made them


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_two_alert_processes_send_a_breach_once(
    backend: str, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = webhook
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":
            storage = (await stack.enter_async_context(PgDatabase())).dsn
        else:
            storage = f"sqlite:///{tmp_path}/c.db"
        conf = tmp_path / "collector.toml"
        conf.write_text(
            f'[storage]\nurl = "{storage}"\n[pes.core_features]\npress-x = ["calibrate"]\n'
            f'[alerts]\nwebhook_url = "{url}"\nretries = 0\ninterval_s = 3600\n'
            '[[alerts.rules]]\nname = "any"\nmetric = "adoption"\nbelow = 101\n'
            'period_days = 1\ngroup_by = "device_type"\n'
        )
        yesterday = datetime.now(UTC).replace(hour=12, minute=0) - timedelta(days=1)
        events = tmp_path / "events.jsonl"
        events.write_text("".join(
            json.dumps({"id": f"0190a000-0000-7000-8000-{i:012d}", "device_id": f"d{i}",
                        "account_id": "acme", "device_type": "press-x",
                        "firmware_version": "1.0", "kind": "feature_use",
                        "feature": "calibrate", "ts": yesterday.isoformat()}) + "\n"
            for i in range(3)
        ))  # fmt: skip
        _cli("import", str(events), "--config", str(conf))
        # Both start together; whichever claims the evaluation sends, the other skips.
        outs = await asyncio.gather(
            *(asyncio.to_thread(_cli, "alerts", "--once", "--config", str(conf)) for _ in "ab")
        )
    results = sorted((json.loads(o) for o in outs), key=lambda r: "skipped" in r)
    assert results[0]["breaches"] == 1 and results[0]["sent"] == 1
    assert results[1] == {"skipped": 1}
    assert [b["subject"] for b in bodies] == ["device_type=press-x"]


def _cli(*args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]
