"""Run the benchmarks and print one table:
`python -m bench [--quick|--smoke] [--json F] [suite ...]`.

Without suite names it runs the default suites (agent, ingest, e2e, query), which report every
figure of bench.core.REQUIRED; `scale` (docs/scaling.md), `growth` (10k -> 100k [-> 1M]
devices), `dashboard` (the Overview's load time in Chromium), `releases` (the release-impact
engine, 10k and 100k devices x 90 days) and `outcomes` (the outcomes report for 10,000
accounts) and `export` (the warehouse export) run only when named. Budgets
and measured run times: docs/performance.md. (`python -m bench.chart_options` is a separate,
one-off comparison of the dashboard's charts with charting libraries fetched for the run.)

`--smoke` runs every suite (named ones, or all of them) at toy sizes, a few seconds each:
`scripts/test` runs it so that a suite broken by a code change fails CI instead of rotting."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.core import REQUIRED, Figure, Size, missing, render, write_json

# suite name -> module with `async def run(quick: bool) -> list[Figure]`
SUITES = {
    "agent": "bench.agent",
    "ingest": "bench.ingest",
    "e2e": "bench.e2e",
    "query": "bench.query",
    "scale": "bench.scale",
    "growth": "bench.growth",
    "dashboard": "bench.dashboard",
    "releases": "bench.releases",
    "outcomes": "bench.outcomes",
    "export": "bench.export",
}
DEFAULT = ("agent", "ingest", "e2e", "query")


async def main_async(args: argparse.Namespace) -> int:
    size = Size.SMOKE if args.smoke else Size.QUICK if args.quick else Size.FULL
    names = args.suites or list(SUITES if size is Size.SMOKE else DEFAULT)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}; known: {', '.join(SUITES)}")
        return 2
    figures: list[Figure] = []
    failed = []
    t_all = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(SUITES[name])
        try:
            figures += await module.run(size)
        except Exception:  # one broken suite must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"   {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(render(figures))
    print(f"({len(figures)} figures in {time.monotonic() - t_all:.0f} s)")
    if args.json:
        write_json(Path(args.json), figures)
    gaps = missing(figures, REQUIRED) if set(DEFAULT) <= set(names) else []
    if gaps:
        print(f"missing required figures: {', '.join(gaps)}", file=sys.stderr)
    if failed:
        print(f"failed suites: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed or gaps else 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller fleets and shorter runs")
    p.add_argument(
        "--smoke", action="store_true", help="every suite at toy sizes: does it still run?"
    )
    p.add_argument("--json", help="also write the figures as a JSON list to this file")
    p.add_argument(
        "suites",
        nargs="*",
        help=f"default {' '.join(DEFAULT)}; also: scale growth dashboard releases outcomes export",
    )
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
