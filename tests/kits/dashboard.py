"""A real collector for the browser tests: `pes-collector import` of a simulated fleet into a
SQLite file, `pes-collector serve` on a free port with a private Mosquitto, and one real agent
process (`pes-agent run`) so that the Fleet page has a live, online device. Plus Debian's
Chromium driven by Playwright, recording console errors and failed requests."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import ConsoleMessage, Page

from devkit.broker import LocalBroker
from tests.kits.analytics import random_fleet
from tests.kits.pes import REPO, start_collector, stop, wait_http, write_collector_config

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
TOKEN = "test-token"
CORE = (
    '[pes.core_features]\n"press-x" = ["calibrate", "export", "recipes"]\n'
    '"lathe-9" = ["jog", "spindle"]\n'
)
START, END = "2026-01-22", "2026-02-20"  # random_fleet's 60 days start on 2026-01-01
AGENT_ID = "live-agent-1"


@dataclass
class Collector:
    port: int
    work: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.base}/v1/{path}", params=params,
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)  # fmt: skip
        r.raise_for_status()
        return r.json()


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", *args], check=True, capture_output=True, timeout=300)


def start_fleet(work: Path) -> Iterator[Collector]:
    events = random_fleet(random.Random(6), history=60, devices=60)
    events.append({"id": "bad", "device_id": "broken-1", "kind": "feature_use"})  # quarantined
    (work / "fleet.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    broker = LocalBroker()
    broker.start()
    conf, port = write_collector_config(work, broker.port, extra=CORE)
    _run("collector.cli", "import", str(work / "fleet.jsonl"), "--config", str(conf))
    c = Collector(port, work)
    try:
        c.procs.append(start_collector(conf, work / "collector.log"))
        wait_http(f"{c.base}/healthz", proc=c.procs[0])
        agent_conf = work / "agent.toml"
        agent_conf.write_text(
            f'device_id = "{AGENT_ID}"\ndevice_type = "press-x"\nfirmware_version = "2.0"\n'
            f'account_id = "acct-live"\nbuffer_path = "{work}/agent.db"\nlinger_ms = 20\n'
            "status_interval_s = 1\n"  # its status soon says the buffer is empty
            f"[mqtt]\nport = {broker.port}\n"
        )
        for feature in ("calibrate", "export"):
            _run("agent.cli", "emit", "--config", str(agent_conf), "--kind", "feature_use",
                 "--feature", feature)  # fmt: skip
        with (work / "agent.log").open("ab") as log:
            c.procs.append(subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "run", "--config", str(agent_conf)],
                stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the agent's events are acked, its status is in
            f = c.api("fleet")
            seen = any(d["device_id"] == AGENT_ID for d in c.api("devices"))
            if f["online"] >= 1 and f["buffer_events"] == 0 and seen:
                break
            time.sleep(0.3)
        else:
            raise AssertionError((work / "agent.log").read_text())
        yield c
    finally:
        for p in reversed(c.procs):
            stop(p)
        broker.cleanup()


class Tab:
    """A page with the token in place, recording console errors and failed requests."""

    def __init__(self, page: Page, base: str) -> None:
        self.page, self.base = page, base
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on(
            "response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}")
        )

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.problems.append(f"console {msg.type}: {msg.text}")

    def open(self, path: str) -> Page:
        self.page.goto(self.base + path)
        self.ready()
        return self.page

    def ready(self) -> None:
        done = "body[data-state=ready], body[data-state=error]"
        self.page.wait_for_selector(done, timeout=60_000)
        state = self.page.evaluate("document.body.dataset.state")
        assert state == "ready", self.page.inner_text("main")

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path
