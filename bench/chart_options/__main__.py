"""The dashboard's charts against two charting libraries, measured once to choose (the result
and the reasons: docs/dashboard.md, "Why hand-written charts"). Not a `python -m bench` suite:
the libraries are not vendored, so they are fetched for the run from the npm registry:

    cd /tmp && npm pack uplot@1.6.32 echarts@6.1.0 && mkdir -p libs
    tar xzf uplot-1.6.32.tgz && cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css libs
    tar xzf echarts-6.1.0.tgz && cp package/dist/echarts.min.js libs
    python -m bench.chart_options --libs /tmp/libs [--rounds 15]

The same Overview-shaped data (data.js: 84 days x 3 series, 6 segments x 12 weeks, 5 features,
12 weeks of lifecycle, 6 retention curves with bands) is drawn as five charts by the dashboard's
own charts.js (with its tooltips installed), by uPlot (canvas) and by ECharts (SVG and canvas
renderers). Files are served from disk through Playwright's routing (no network, no server),
each load in a fresh browser context (cold cache), the variants interleaved round by round so
that the machine's load falls on all alike. Per variant: the bytes fetched, the time from
navigation to the five charts drawn and a frame painted (median of the rounds, min-max), the
drawing code's own share, the JS heap and the page's DOM elements."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, Request, Response, Route, sync_playwright

HERE = Path(__file__).resolve().parent
STATIC = HERE.parents[1] / "collector" / "web" / "static"
CHROMIUM = "/usr/bin/chromium"
VARIANTS = {
    "hand-written SVG (charts.js)": "hand.html",
    "uPlot 1.6.32 (canvas)": "uplot.html",
    "ECharts 6.1.0 (SVG renderer)": "echarts.html?r=svg",
    "ECharts 6.1.0 (canvas renderer)": "echarts.html?r=canvas",
}
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


@dataclass
class Result:
    load_ms: list[float] = field(default_factory=list)
    draw_ms: list[float] = field(default_factory=list)
    heap_mb: list[float] = field(default_factory=list)
    bytes: int = 0
    elements: int = 0


def _server(libs: Path) -> Callable[[Route, Request], None]:
    def serve(route: Route, request: Request) -> None:
        name = request.url.split("?")[0].rsplit("/", 1)[-1]
        path = next(d / name for d in (HERE, STATIC, libs) if (d / name).is_file())
        route.fulfill(body=path.read_bytes(), content_type=TYPES[path.suffix])

    return serve


def _watch(page: Page) -> tuple[list[str], list[Response]]:
    errors: list[str] = []
    responses: list[Response] = []

    def console(m: ConsoleMessage) -> None:
        if m.type == "error":
            errors.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: responses.append(r))
    return errors, responses


def measure(libs: Path, rounds: int) -> dict[str, Result]:
    results = {name: Result() for name in VARIANTS}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        for n in range(rounds + 1):  # round 0 warms the browser up and is not counted
            for name, page_path in VARIANTS.items():
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                errors, responses = _watch(page)
                page.route("http://bench.local/**", _server(libs))
                page.goto(f"http://bench.local/{page_path}")
                page.wait_for_selector("body[data-state=ready]", timeout=60_000)
                assert not errors, (name, errors)
                r = results[name]
                if n:
                    r.load_ms.append(page.evaluate("performance.now()"))
                    r.draw_ms.append(page.evaluate("window.drawMs"))
                    r.heap_mb.append(page.evaluate("performance.memory.usedJSHeapSize") / 1e6)
                    r.bytes = sum(len(x.body()) for x in responses)
                    r.elements = page.evaluate("document.getElementsByTagName('*').length")
                context.close()
        browser.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.chart_options", description=__doc__)
    p.add_argument("--libs", type=Path, required=True, help="folder with the libraries' files")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    results = measure(args.libs, args.rounds)
    print("| variant | bytes fetched | load to drawn, ms: median (min-max) | drawing, ms "
          "| JS heap, MB | DOM elements |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        med = statistics.median
        print(
            f"| {name} | {r.bytes:,} | {med(r.load_ms):,.0f} ({min(r.load_ms):,.0f}-"
            f"{max(r.load_ms):,.0f}) | {med(r.draw_ms):.0f} | {med(r.heap_mb):.1f} | {r.elements} |"
        )


if __name__ == "__main__":
    main()
