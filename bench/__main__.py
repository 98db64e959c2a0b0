"""Run the benchmarks and print one table: `python -m bench [--quick] [--json F] [suite ...]`."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path

from bench.core import Figure, render, write_json

# suite name -> module with `async def run(quick: bool) -> list[Figure]`
SUITES = {
    "ingest": "bench.ingest",
    "scale": "bench.scale",
    "query": "bench.query",
    "agent": "bench.agent",
    "dashboard": "bench.dashboard",
}


async def main_async(args: argparse.Namespace) -> int:
    names = args.suites or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}; known: {', '.join(SUITES)}")
        return 2
    figures: list[Figure] = []
    for name in names:
        t0 = time.monotonic()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(SUITES[name])
        figures += await module.run(args.quick)
        print(f"   {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    print(render(figures))
    if args.json:
        write_json(Path(args.json), figures)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="about a minute: smaller fleets")
    p.add_argument("--json", help="also write the figures as a JSON list to this file")
    p.add_argument("suites", nargs="*", help=f"subset of: {', '.join(SUITES)}")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
