"""How long the dashboard's Overview takes to load in a real browser, on a large fleet.

The fleet of bench/query.py (100,000 devices x 90 days; --quick: 10,000) is generated into a
SQLite file, a real `pes-collector serve` (ingest off) serves it, and headless Chromium (Debian's,
through Playwright) opens the Overview for the last 30 days: from navigation until the page says
every table and chart is drawn (body[data-state=ready]).
- dashboard_overview_cold_ms: the first load after start-up (reads the analytics tables);
- dashboard_overview_ms: median of later loads; baseline: the same eight API requests the page
  makes, fetched one after the other by httpx, same run (ratio = browser / bare API).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench import query
from bench.core import Figure, Size
from collector.storage import open_store
from devkit.broker import free_port

CHROMIUM = "/usr/bin/chromium"
TOKEN = "bench-token"


def _config(work: Path, db: Path, port: int) -> Path:
    core = "\n".join(
        f'"{t}" = {feats!r}'.replace("'", '"') for t, feats in query.SETTINGS.core_features.items()
    )
    conf = work / "collector.toml"
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n[ingest]\nenabled = false\n'
        f"[pes.core_features]\n{core}\n"
        f'[api]\nhost = "127.0.0.1"\nport = {port}\ntokens = ["{TOKEN}"]\n'
    )
    return conf


def _api_baseline(base: str, start: str, end: str, chart_start: str, prev_start: str) -> float:
    """The Overview's eight requests, one after the other (the page sends them together)."""
    whole = {"start": start, "end": end, "group_by": ""}
    prev_end = (date.fromisoformat(start) - timedelta(days=1)).isoformat()
    calls = [
        ("pes", whole),
        ("pes", {**whole, "start": prev_start, "end": prev_end}),  # the headline's change
        ("rollout", {"start": end, "end": end}),  # the version marks
        ("pes", {"start": start, "end": end}),
        ("overview", {**whole, "start": chart_start}),
        ("overview", {**whole, "table": "features"}),
        ("trend", {"start": chart_start, "end": end}),
        (
            "retention",
            {"start": chart_start, "end": end, "group_by": "device_type,firmware_version"},
        ),
    ]
    t0 = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
        for path, params in calls:
            client.get(f"{base}/v1/{path}", params=params).raise_for_status()
    return (time.perf_counter() - t0) * 1000


def _measure(base: str, runs: int) -> tuple[float, list[float], float]:
    from playwright.sync_api import sync_playwright

    end = query.END
    start, chart_start = end - timedelta(days=29), end - timedelta(days=83)
    url = f"{base}/?start={start}&end={end}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/fleet?token={TOKEN}")
        page.wait_for_selector("body[data-state=ready]", timeout=120_000)
        loads = []
        for _ in range(runs + 1):
            page.goto("about:blank")
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]", timeout=300_000)
            loads.append((time.perf_counter() - t0) * 1000)
        assert page.locator("#pes-rows tbody tr").count() > 0
        browser.close()
    dates = [d.isoformat() for d in (start, end, chart_start, start - timedelta(days=30))]
    api_ms = statistics.median(_api_baseline(base, *dates) for _ in range(runs))
    return loads[0], loads[1:], api_ms


def _serve_and_measure(work: Path, db: Path, runs: int) -> tuple[float, list[float], float]:
    port = free_port()
    conf = _config(work, db, port)
    with (work / "collector.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(conf)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        return _measure(base, runs)
    finally:
        proc.terminate()
        proc.wait(10)


async def run(size: Size) -> list[Figure]:
    devices = size.pick(100_000, 10_000, 200)
    with tempfile.TemporaryDirectory(prefix="pes-bench-dashboard-") as tmp:
        work = Path(tmp)
        db = work / "c.db"
        t0 = time.perf_counter()
        async with open_store(f"sqlite:///{db}") as store:
            n = await query._fill_sqlite(store, devices)
        query._say(f"dashboard: {n:,} events and rollups in {time.perf_counter() - t0:.0f} s")
        cold, warm, api_ms = await asyncio.to_thread(_serve_and_measure, work, db, 3)
    note = f"sqlite, {devices:,} devices x {query.DAYS} days, headless Chromium"
    warm_ms = statistics.median(warm)
    query._say(f"dashboard: cold {cold:.0f} ms, warm {warm_ms:.0f} ms, API {api_ms:.0f} ms")
    return [
        Figure("dashboard_overview_cold_ms", cold, "ms", note="first load: reads the tables"),
        Figure(
            "dashboard_overview_ms",
            warm_ms,
            "ms",
            "< 3000",
            baseline=api_ms,
            note=f"{note}; baseline: its 8 API calls in sequence",
        ),
    ]
