"""One collector and one browser for the dashboard tests (both take seconds to start). Package
scope: the browser (sync Playwright runs an event loop) is closed before other packages' asyncio
tests run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.kits.dashboard import CHROMIUM, TOKEN, Collector, Tab, start_fleet

if not os.access(CHROMIUM, os.X_OK):  # scripts/bootstrap.sh installs it
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="package")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    yield from start_fleet(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    pw: Playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


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
