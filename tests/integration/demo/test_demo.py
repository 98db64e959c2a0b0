"""`scripts/demo` as a user runs it (real Mosquitto, collector process, real agents), serving
with live traffic for a shortened period: what it printed must still be what the collector
answers afterwards, to the number, and the story it tells must come out as meant.

Slow (a few thousand devices, two minutes or more on a busy 2-core machine): `pytest -m slow
tests/integration/demo`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.reports import band_table, pes_table
from scripts.demo_fleet import RELEASES
from scripts.demo_print import PES_VIEWS
from tests.kits.pes import REPO

# The check serves for 10 minutes: PES_DEMO_SERVE_SECONDS=600 runs that; the plans make
# the length irrelevant within a day, so the default is shorter, at a higher rate.
SERVE_SECONDS = int(os.environ.get("PES_DEMO_SERVE_SECONDS", "45"))
LIVE_RATE = 4.0  # sessions a second: ~180 live sessions, some 600 events in 45 s
TOKEN = "demo-token"


class Demo:
    """The demo process; its stdout collected line by line on a thread."""

    def __init__(self, work: Path) -> None:
        path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.demo", "--port", "0", "--work-dir", str(work),
             "--serve-seconds", str(SERVE_SECONDS), "--live-rate", str(LIVE_RATE)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.5)
        raise AssertionError(f"no line {prefix!r} from the demo:\n" + "\n".join(self.lines))

    def block(self, title: str) -> str:
        """The table printed under `title` (up to the next empty line)."""
        i = self.lines.index(title) + 2  # the title, an empty line, then the table
        end = self.lines.index("", i)
        return "\n".join(self.lines[i:end])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def _get(base: str, kept: dict[str, Any]) -> Any:
    r = httpx.get(base + kept["path"], params=kept["params"], timeout=120,
                  headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    r.raise_for_status()
    return r.json()


PAGES = {  # what the demo's guide points at
    "overview": "/",
    "overview-firmware": "/?group_by=device_type,firmware_version",
    "compare": "/compare",
    "releases": "/releases",
    "accounts": "/accounts?entity=account",
    "fleet": "/fleet",
}


def _screenshots(base: str) -> None:
    """Every page of the serving demo, as a user opens it from the printed link, saved to
    test-artifacts/demo/ (after the numbers were checked, so they show what was printed)."""
    from playwright.sync_api import sync_playwright

    from tests.kits.dashboard import CHROMIUM, Tab

    out = REPO / "test-artifacts" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            tab = Tab(page, base)
            page.goto(f"{base}/fleet?token={TOKEN}")
            tab.ready()
            for name, path in PAGES.items():
                tab.open(path)
                page.screenshot(path=out / f"{name}.png", full_page=True)
            assert not tab.problems, tab.problems
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.timeout(SERVE_SECONDS + 1200)
def test_the_serving_demo_still_answers_what_it_printed(tmp_path: Path) -> None:
    day = datetime.now(UTC).date()
    demo = Demo(tmp_path)
    try:
        base = demo.wait_for("collector  http://", 300).split()[1]
        live = demo.wait_for("live       ", 900)
        if datetime.now(UTC).date() != day:
            pytest.skip("the demo ran across midnight (UTC): the PES period moved on")
        sessions, events = map(int, re.findall(r"(\d+) (?:sessions|events)", live))
        # The live traffic really happened: the check below could not pass by doing nothing.
        assert sessions >= SERVE_SECONDS * LIVE_RATE / 3 and events > sessions * 2
        kept = tmp_path / "printed"
        for group_by, title in PES_VIEWS:
            printed = json.loads((kept / f"pes-{group_by.replace(',', '+')}.json").read_text())
            now = _get(base, printed)
            assert now == printed["answer"]  # every field, to the last bit
            assert demo.block(title) == pes_table(now, group_by.split(","))
            assert not any(r["low_sample"] for r in now)  # a realistic fleet: no row is thin
        accounts = _get(base, {"path": "/v1/pes", "params": {"entity": "account"}})
        assert accounts and not any(r["low_sample"] for r in accounts)  # enough accounts ...
        assert all(r["adoption"] < 90 and r["stickiness"] < 90 for r in accounts)  # unsaturated
        for name in ("releases.json", "outcomes.json"):
            printed = json.loads((kept / name).read_text())
            assert _get(base, printed) == printed["answer"]
        bands = json.loads((kept / "outcomes.json").read_text())["answer"]
        assert band_table(bands["bands"]) in "\n".join(demo.lines)
        assert bands["auc"] > 0.7  # engaged accounts renew more often, and health shows it
        stats = httpx.get(f"{base}/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        imported = int(demo.wait_for("           import: ", 1).split()[1])
        replayed = int(demo.wait_for("           agents: ", 1).split()[1])
        assert stats.json()["events"] == imported + replayed + events
        _screenshots(base)
    finally:
        code = demo.stop()
    assert code == 0, "\n".join(demo.lines)
    for (dtype, old, new), (meant, _) in RELEASES.items():
        said = f"  {dtype} {old} -> {new}: {meant} ("
        assert any(line.startswith(said) for line in demo.lines), "\n".join(demo.lines)
