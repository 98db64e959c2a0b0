"""Run the fault scenarios and print the reliability table (Markdown), the same code the tests
run (tests/integration/reliability/test_reliability.py), so the table and the tests cannot disagree.

    scripts/reliability                 # quick sizes, every scenario (~3 min)
    scripts/reliability --soak          # the soak sizes (minutes per scenario)
    scripts/reliability net_cut disk_full

Exit status 1 when any scenario stored a duplicate, lost an event without a report, or failed
its own checks."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from tests.kits.reliability.fault_rig import Outcome
from tests.kits.reliability.scenarios import SCENARIOS
from tests.kits.reliability.tmpfs import probe


def render(rows: list[Outcome]) -> str:
    head = (*Outcome.HEADER, "fault")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        note = r.fault + ("" if r.ok else f" **FAILED: {'; '.join(r.failures) or r}**")
        lines.append("| " + " | ".join((*r.cells(), note)) + " |")
    return "\n".join(lines)


async def run(names: list[str], quick: bool) -> list[Outcome]:
    rows = []
    for name in names:
        if name == "disk_full" and (why := probe()) is not None:
            print(f"{name}: not run, cannot mount a private tmpfs: {why}", file=sys.stderr)
            continue
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"pes-rel-{name}-") as tmp:
            out = await SCENARIOS[name](Path(tmp), quick)
        print(f"{name}: {time.monotonic() - t0:.0f} s, ok={out.ok}", file=sys.stderr)
        rows.append(out)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[])
    ap.add_argument("--soak", action="store_true", help="the long sizes (pytest -m slow)")
    args = ap.parse_args()
    names = args.scenarios or list(SCENARIOS)
    rows = asyncio.run(run(names, quick=not args.soak))
    size = "soak" if args.soak else "quick"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Reliability table ({size} sizes, {stamp}):\n")
    print(render(rows))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
