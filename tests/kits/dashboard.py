"""A real collector for the browser tests: `pes-collector import` of a simulated fleet into a
SQLite file (with firmware releases of known effect), `pes-collector outcomes import` of device
outcomes, `pes-collector serve` on a free port with a private Mosquitto, and one real agent
process (`pes-agent run`) so that the Fleet page has a live, online device. Plus Debian's
Chromium driven by Playwright, recording console errors and failed requests."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import ConsoleMessage, Page, Response

from devkit.broker import LocalBroker
from tests.kits.analytics import BASE, Event, new_id, random_fleet
from tests.kits.pes import REPO, start_collector, stop, wait_http, write_collector_config

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
TOKEN = "test-token"
CORE = (
    '[pes.core_features]\n"press-x" = ["calibrate", "export", "recipes"]\n'
    '"lathe-9" = ["jog", "spindle"]\n'
)
START, END = "2026-01-22", "2026-02-20"  # random_fleet's 60 days start on 2026-01-01
RANGE = f"start={START}&end={END}"
AGENT_ID = "live-agent-1"
HISTORY = 60
OUTCOME_DAY = "2026-03-20"  # decision time: health over 2026-01-20..2026-02-18 (lead 30, L 30)
LATE_UPGRADE = 45  # day of the two late upgrades: pending for an as_of before 2026-03-02


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


def release_fleet(rng: random.Random, devices: int = 24) -> list[Event]:
    """Devices of both types on 2.0; half of them upgrade to 2.1 on a day in days 25..39 (two
    more on day LATE_UPGRADE). On press-x 2.1 raises activity (a release that helps); on lathe-9
    it drops `jog` (hurts breadth and uses). The rest stay on 2.0: the controls."""
    events: list[Event] = []
    for n in range(devices):
        device, dtype = f"rel-{n:02d}", ("press-x", "lathe-9")[n % 2]
        up = 25 + n % 15 if n % 4 < 2 else LATE_UPGRADE if n in (2, 3) else HISTORY
        for day in range(HISTORY):
            fw = "2.1" if day >= up else "2.0"
            kinds: list[tuple[str, str | None]] = [("heartbeat", None)]
            if dtype == "press-x":
                if rng.random() < (0.85 if fw == "2.1" else 0.4):
                    kinds += [("session_start", None)]
                    kinds += [("feature_use", f) for f in ("calibrate", "export", "recipes")
                              if rng.random() < 0.5]  # fmt: skip
            elif rng.random() < 0.6:
                kinds += [("session_start", None), ("feature_use", "spindle")]
                if fw == "2.0" and rng.random() < 0.7:
                    kinds.append(("feature_use", "jog"))
            for k, (kind, feature) in enumerate(kinds):
                ts = f"{(BASE + timedelta(days=day)).isoformat()}T{8 + k:02d}:{n:02d}:00Z"
                events.append({"id": new_id(rng), "device_id": device, "account_id": "acct-rel",
                               "device_type": dtype, "firmware_version": fw, "kind": kind,
                               "feature": feature, "ts": ts})  # fmt: skip
    return events


def device_outcomes(rng: random.Random, events: Sequence[Event]) -> list[dict[str, str]]:
    """One outcome per device on OUTCOME_DAY: the more days it was active in its scoring period,
    the likelier it renewed (so the health score has something to find)."""
    lo, hi = "2026-01-20", "2026-02-18"
    active: dict[str, set[str]] = {}
    for e in events:
        day = str(e.get("ts", ""))[:10]
        if e.get("kind") in ("session_start", "session_end", "feature_use") and lo <= day <= hi:
            active.setdefault(str(e["device_id"]), set()).add(day)
        active.setdefault(str(e["device_id"]), set())
    out = []
    for device, days in sorted(active.items()):
        retained = rng.random() < 0.1 + 0.85 * min(1.0, len(days) / 20)
        kind = ("expanded" if rng.random() < 0.2 else "renewed") if retained else "churned"
        out.append({"device_id": device, "outcome": kind, "date": OUTCOME_DAY})
    return out


def _jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def start_fleet(work: Path) -> Iterator[Collector]:
    events = random_fleet(random.Random(6), history=HISTORY, devices=60)
    events += release_fleet(random.Random(7))
    outcomes = device_outcomes(random.Random(8), events)
    events.append({"id": "bad", "device_id": "broken-1", "kind": "feature_use"})  # quarantined
    broker = LocalBroker()
    broker.start()
    conf, port = write_collector_config(work, broker.port, extra=CORE)
    _run(
        "collector.cli", "import", str(_jsonl(work / "fleet.jsonl", events)), "--config", str(conf)
    )
    _run("collector.cli", "outcomes", "import", str(_jsonl(work / "outcomes.jsonl", outcomes)),
         "--config", str(conf))  # fmt: skip
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
        page.on("response", self._response)

    def _response(self, r: Response) -> None:
        if r.status >= 400:
            self.problems.append(f"{r.status} {r.url}")

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


# ---------------------------------------------------------------- reading pages back


def values(page: Page, selector: str, attr: str = "data-v") -> list[str]:
    found: list[str] = page.eval_on_selector_all(  # playwright: evaluate() returns Any
        selector, f"els => els.map(e => e.getAttribute('{attr}'))"
    )
    return found


def num(text: str | None) -> float | None:
    return None if text is None or text == "" else float(text)


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-9)


def marks(page: Page, scope: str, series: str) -> dict[str, float | None]:
    """x -> plotted value of the chart marks of one series inside `scope`."""
    found = page.eval_on_selector_all(
        f"{scope} .mark[data-series='{series}']",
        "els => els.map(e => [e.getAttribute('data-x'), e.getAttribute('data-v')])",
    )
    return {x: num(v) for x, v in found}


def url_has(page: Page, **params: str) -> None:
    """Wait until the address bar's query has these values (pushState fires no load event)."""
    for k, v in params.items():
        page.wait_for_function(
            "([k, v]) => new URLSearchParams(location.search).get(k) === v", arg=[k, v]
        )


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query, keep_blank_values=True)
