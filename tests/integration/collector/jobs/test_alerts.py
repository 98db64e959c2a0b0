"""Alert rules on the worked example (real SQLite store): evaluation, webhook delivery with
retries, no resend while a breach stays open, resend after it cleared."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.api import AppState, create_app
from collector.jobs.alerts import evaluate, run_once
from collector.settings import CollectorSettings, load_settings
from collector.storage import open_store
from devkit.broker import free_port
from tests.kits.pes import start_collector, stop, wait_http, write_collector_config

TODAY = date(2026, 3, 15)  # rules look at the 7 days ending yesterday: the worked example's P


class Webhook:
    """An httpx transport that answers with the given statuses in turn, then 200."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
def conf(tmp_path: Path, specs_dir: Path) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n[pes.core_features]\n'
        'press-x = ["calibrate", "export", "recipes"]\n[api]\ntokens = ["t"]\n'
        '[alerts]\nwebhook_url = "http://hooks.invalid/pes"\nretries = 3\n'
        '[[alerts.rules]]\nname = "low pes"\nbelow = 60\nperiod_days = 7\n'
        'stickiness = "dau_wau"\n'
        '[[alerts.rules]]\nname = "unhealthy"\nkind = "entity"\nmetric = "health"\n'
        "below = 40\nperiod_days = 7\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "import",
            str(specs_dir / "pes-example-events.jsonl"),
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return path


@pytest.fixture
async def store(conf: Path) -> AsyncIterator[Any]:
    async with open_store(load_settings(conf).storage.url) as s:
        yield s


def with_threshold(settings: CollectorSettings, below: float) -> CollectorSettings:
    rules = [
        r.model_copy(update={"below": below}) if r.name == "low pes" else r
        for r in settings.alerts.rules
    ]
    return settings.model_copy(
        update={"alerts": settings.alerts.model_copy(update={"rules": rules})}
    )


async def test_breaches_are_sent_once_until_they_clear(conf: Path, store: Any) -> None:
    settings = load_settings(conf)
    breaches = await evaluate(store, settings, TODAY)
    # press-x 1.0 has PES 52.4 (< 60); the other segments 83.3 and 81.0. Health below 40:
    # d2 (dropped: 0) and d6 (31.8), as `pes-collector health` shows for that week.
    assert sorted((b.rule, b.subject) for b in breaches) == [
        ("low pes", "device_type=press-x,firmware_version=1.0"),
        ("unhealthy", "d2"),
        ("unhealthy", "d6"),
    ]
    hook = Webhook(500, 503)  # two failures, then accepted
    async with hook.client() as client:
        counts = await run_once(store, settings, client, today=TODAY, sleep=no_sleep)
    assert counts == {"breaches": 3, "sent": 3, "failed": 0, "cleared": 0}
    assert len(hook.bodies) == 5 and hook.bodies[0]["rule"] == "low pes"
    assert hook.bodies[0]["value"] == pytest.approx(52.38, abs=0.01)
    assert hook.bodies[0]["period_start"] == "2026-03-08"
    async with hook.client() as client:  # still open: nothing is sent again
        assert (await run_once(store, settings, client, today=TODAY, sleep=no_sleep))["sent"] == 0
    assert len(hook.bodies) == 5
    cleared = with_threshold(settings, 10)
    async with hook.client() as client:
        counts = await run_once(store, cleared, client, today=TODAY, sleep=no_sleep)
    assert counts["cleared"] == 1 and counts["sent"] == 0
    async with hook.client() as client:  # breached again: news again
        counts = await run_once(store, settings, client, today=TODAY, sleep=no_sleep)
    assert counts["sent"] == 1 and hook.bodies[-1]["subject"].startswith("device_type=press-x")


async def test_failed_delivery_is_retried_at_the_next_evaluation(conf: Path, store: Any) -> None:
    settings = load_settings(conf)
    down = Webhook(*([500] * 20))
    async with down.client() as client:
        counts = await run_once(store, settings, client, today=TODAY, sleep=no_sleep)
    assert counts["sent"] == 0 and counts["failed"] == 3
    assert len(down.bodies) == 3 * 4  # 1 try + 3 retries each
    refused = Webhook(400)
    async with refused.client() as client:  # a 4xx is not retried
        counts = await run_once(store, settings, client, today=TODAY, sleep=no_sleep)
    assert counts["failed"] == 1 and counts["sent"] == 2 and len(refused.bodies) == 3
    assert await store.alert_state() != {}
    # Both runs counted in the store, for every collector's /metrics.
    gauges = await store.ops_gauges(0)
    assert (gauges["alert_webhook_failures"], gauges["alerts_sent"]) == (4, 2)


def test_a_real_alerts_job_failing_its_webhook_shows_on_a_collectors_metrics(
    tmp_path: Path, specs_dir: Path
) -> None:
    """`pes-collector alerts --once` is a short-lived process nobody scrapes: its failed
    deliveries reach Prometheus through the store and a running `pes-collector serve`."""
    hook = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: connection refused
    extra = (
        f'enabled = false\n[alerts]\nwebhook_url = "{hook}"\nretries = 0\n'
        '[[alerts.rules]]\nname = "any pes"\nbelow = 101\nperiod_days = 366\n'
    )
    conf, http = write_collector_config(tmp_path, free_port(), extra=extra)
    cli = [sys.executable, "-m", "collector.cli"]
    imported = subprocess.run([*cli, "import", str(specs_dir / "pes-example-events.jsonl"),
                               "--config", str(conf)], capture_output=True, timeout=60)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    run = subprocess.run([*cli, "alerts", "--once", "--config", str(conf)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1, run.stderr  # a delivery failed
    failed = json.loads(run.stdout)["failed"]
    assert failed >= 1
    proc = start_collector(conf, tmp_path / "collector.log")
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz", proc=proc)
        metrics = httpx.get(f"http://127.0.0.1:{http}/metrics", timeout=30).text
    finally:
        assert stop(proc) == 0
    assert f"pes_alert_webhook_failures_total {float(failed)}" in metrics.splitlines()
    assert "pes_alerts_sent_total 0.0" in metrics.splitlines()
    assert "pes_collector_ready 1.0" in metrics.splitlines()  # ingest off: ready without a broker


async def test_alerts_endpoint_shows_breaches_and_delivery(conf: Path, store: Any) -> None:
    settings = load_settings(conf)
    async with Webhook().client() as client:
        await run_once(store, settings, client, today=TODAY, sleep=no_sleep)
    app = create_app(AppState(settings, store))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        headers={"Authorization": "Bearer t"},
    ) as c:
        r = await c.get("/v1/alerts")
    assert r.status_code == 200
    # Evaluated for the real today, so which breaches exist depends on the date; each row says
    # whether that breach was delivered already.
    assert all(set(row) >= {"rule", "subject", "delivered"} for row in r.json())
