"""`pes-collector export`: the warehouse export, day-partitioned Parquet written incrementally
into a folder (collector/export, docs/operations.md). Prints what it wrote as JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

from collector.cli.analytics import iso_date
from collector.errors import QueryError
from collector.export import ExportOptions, export_parquet
from collector.settings import CollectorSettings
from collector.storage import open_store

COMMAND = "export"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(COMMAND, help="write day-partitioned Parquet for a warehouse")
    p.add_argument("--to", required=True, type=Path, help="target folder (made if missing)")
    p.add_argument("--format", choices=["parquet"], default="parquet")
    p.add_argument("--start", type=iso_date, help="first day (default: the first held)")
    p.add_argument("--end", type=iso_date, help="last day (default: yesterday)")
    p.add_argument("--pes-days", type=int, default=30, help="length of each day's PES period")
    p.add_argument("--group-by", help="segments of the PES table (default: type and firmware)")
    p.add_argument("--config")


async def run(settings: CollectorSettings, args: argparse.Namespace) -> int:
    if args.start and args.end and args.start > args.end:
        raise QueryError("--start is after --end")
    if not 1 <= args.pes_days <= 366:
        raise QueryError("--pes-days must be 1 to 366")
    opts = ExportOptions(args.to, args.start, args.end, args.pes_days)
    if args.group_by is not None:
        opts = replace(opts, group_by=args.group_by)
    async with open_store(settings.storage.url, create=False) as store:
        summary = await export_parquet(store, settings.pes, opts)
    print(json.dumps(asdict(summary)))
    return 0
