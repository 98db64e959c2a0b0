"""One collector and one browser per module (both take seconds to start)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_kit import ARTIFACTS, CHROMIUM, TOKEN, Collector, start_fleet
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

if not os.access(CHROMIUM, os.X_OK):  # scripts/bootstrap.sh installs it
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    yield from start_fleet(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    pw: Playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


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


@pytest.fixture
def tab(browser: Browser, collector: Collector) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    t = Tab(page, collector.base)
    page.goto(f"{collector.base}/fleet?token={TOKEN}")  # stores the token, as the demo link does
    t.ready()
    yield t
    context.close()
    assert not t.problems, t.problems
