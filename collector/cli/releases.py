"""`pes-collector releases`: release impact (specs/releases.md) from the command line, with the
same parameters and rows as `GET /v1/releases` (api/routes/releases.py), printed as JSON (a list
of objects with the contract's keys), a text table or CSV. A bad value is one line on stderr
and exit status 2 (raised as QueryError, reported by main)."""

from __future__ import annotations

import argparse
import json

from collector.errors import QueryError
from collector.reports import release_table
from collector.reports import releases as rr
from collector.settings import CollectorSettings
from collector.storage import open_store

COMMANDS = ("releases",)
FORMATS = ("json", "table", "csv")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("releases", help="release impact per firmware change (GET /v1/releases)")
    p.add_argument("--config")
    p.add_argument("--start", help="first day of a transition to report (default: end - 89)")
    p.add_argument("--end", help="last day of a transition to report (default: today)")
    p.add_argument("--window", help="days before and after a change, 1 to 60 (default 14)")
    p.add_argument("--as-of", help="last day with complete data (default: yesterday)")
    p.add_argument("--device-type", help="only this device type")
    p.add_argument("--metric", help="active_share, breadth or uses_per_day")
    p.add_argument("--format", default="table", help="json, table or csv")


async def run(settings: CollectorSettings, args: argparse.Namespace) -> int:
    if args.format not in FORMATS:
        raise QueryError(f"format must be one of {', '.join(FORMATS)}")
    q = rr.make_release_query(
        settings.pes,
        start=rr.parse_day(args.start, "start"),
        end=rr.parse_day(args.end, "end"),
        window=rr.parse_window(args.window),
        as_of=rr.parse_day(args.as_of, "as-of"),
        device_type=args.device_type,
        metric=args.metric,
    )
    async with open_store(settings.storage.url) as store:
        rows = await rr.release_rows(store, settings.pes, q)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "csv":
        print(rr.release_csv(rows), end="")
    else:
        print(release_table(rows))
    return 0
