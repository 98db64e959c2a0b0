"""`pes-collector pes|compare|trend|overview|health|funnel|alerts`: the analytics endpoints from
the command line, with the same parameters and rows as the HTTP API (api/routes/analytics.py),
printed as JSON, a text table or CSV."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import date, datetime, timedelta
from typing import Any

from collector.analytics.compare import parse_config
from collector.errors import QueryError
from collector.jobs import run_claimed, run_forever
from collector.reports import (
    EARLIEST,
    PesQuery,
    compare_table,
    health_table,
    make_query,
    parse_group_by,
    pes_table,
    retention_table,
    to_csv,
    to_table,
)
from collector.reports import tables as aq
from collector.settings import CollectorSettings
from collector.storage import open_store

COMMANDS = ("pes", "compare", "trend", "overview", "health", "funnel", "retention", "alerts")
_CONFIGS = ("a", "b", "c", "d", "e", "f")


def iso_date(text: str) -> date:
    """A command-line date; argparse reports the message on one line (see main.Parser)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a date: use YYYY-MM-DD") from None


def _common(p: argparse.ArgumentParser, *, formats: bool = True) -> None:
    p.add_argument("--config")
    p.add_argument("--start", type=iso_date)
    p.add_argument("--end", type=iso_date)
    p.add_argument("--group-by", help="device_type,firmware_version,label:<key>; '' = all")
    p.add_argument("--entity", choices=["device", "account"], default="device")
    p.add_argument("--stickiness", choices=["dau_mau", "dau_wau", "wau_mau"], default="dau_mau")
    p.add_argument("--weights", help="adoption,stickiness,growth, e.g. 0.5,0.25,0.25")
    p.add_argument("--device-type", help="filter: only this device type")
    p.add_argument("--firmware-version", help="filter: only this firmware version")
    p.add_argument("--account-id", help="filter: only this account")
    if formats:
        p.add_argument("--format", choices=["json", "table", "csv"], default="table")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _common(sub.add_parser("pes", help="the PES table (as GET /v1/pes)"))
    cmp = sub.add_parser("compare", help="configurations side by side with bootstrap CIs")
    _common(cmp)
    for name in _CONFIGS:
        cmp.add_argument(f"--{name}", help=f"configuration {name}, e.g. firmware_version:2.1")
    cmp.add_argument("--baseline", choices=_CONFIGS, default="a")
    cmp.add_argument("--resamples", type=int, default=1000)
    cmp.add_argument("--seed", type=int, default=0)
    tr = sub.add_parser("trend", help="PES per week or month")
    _common(tr)
    tr.add_argument("--interval", choices=["week", "month"], default="week")
    ov = sub.add_parser("overview", help="DAU/WAU/MAU, feature adoption, lifecycle")
    _common(ov)
    ov.add_argument("--interval", choices=["week", "month"], default="week")
    ov.add_argument("--table", choices=["series", "features", "lifecycle"])
    he = sub.add_parser("health", help="entity health, at-risk list, PQLs")
    _common(he)
    he.add_argument("--list", choices=["all", "at_risk", "pql"], default="all")
    he.add_argument("--limit", type=int, default=1000)
    fu = sub.add_parser("funnel", help="onboarding funnel of new entities")
    _common(fu)
    fu.add_argument("--days", type=int, default=14)
    re_ = sub.add_parser("retention", help="weekly retention curves by cohort")
    _common(re_)
    re_.add_argument("--weeks", type=int, default=12, help="weeks after the cohort's (1-52)")
    al = sub.add_parser("alerts", help="evaluate alert rules on a schedule, send to the webhook")
    al.add_argument("--config")
    al.add_argument("--once", action="store_true", help="evaluate and deliver once, then exit")


def _query(
    settings: CollectorSettings, args: argparse.Namespace, days: int, gb: str | None
) -> PesQuery:
    """The API's defaults: end = today (collector zone), start = end - days + 1."""
    end = args.end or datetime.now(settings.pes.tz).date()
    filters = {
        "device_type": args.device_type,
        "firmware_version": args.firmware_version,
        "account_id": args.account_id,
    }
    return make_query(
        settings.pes,
        start=args.start
        or (end - timedelta(days=days - 1) if end > EARLIEST + timedelta(days) else None),
        end=end,
        group_by=gb if args.group_by is None else args.group_by,
        entity=args.entity,
        stickiness=args.stickiness,
        filters=filters,
        weights=args.weights,
    )


def _print(rows: Any, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=1))
    elif isinstance(rows, dict):  # overview without --table: every table in turn
        for name, table in rows.items():
            print(f"== {name}")
            print(to_csv(table) if fmt == "csv" else to_table(table))
    else:
        print(to_csv(rows) if fmt == "csv" else to_table(rows), end="" if fmt == "csv" else "\n")


async def run(settings: CollectorSettings, args: argparse.Namespace) -> int:
    if args.cmd == "alerts":
        return await _alerts(settings, args.once)
    pes = settings.pes
    today = datetime.now(pes.tz).date()
    async with open_store(settings.storage.url, create=False) as store:
        rows: Any
        if args.cmd == "pes":
            rows = await aq.pes_rows(store, pes, _query(settings, args, 30, None))
        elif args.cmd == "compare":
            given = [(n, getattr(args, n)) for n in _CONFIGS if getattr(args, n)]
            if len(given) < 2:
                raise QueryError("compare needs at least --a and --b")
            if not 100 <= args.resamples <= 10_000:
                raise QueryError("--resamples must be 100 to 10000")
            try:
                configs = [parse_config(n, v) for n, v in given]
            except ValueError as exc:
                raise QueryError(str(exc)) from exc
            if args.baseline not in {n for n, _ in given}:
                raise QueryError(f"baseline {args.baseline} is not given")
            rows = await aq.compare_rows(
                store,
                pes,
                _query(settings, args, 30, None),
                configs,
                baseline=args.baseline,
                resamples=args.resamples,
                seed=args.seed,
            )
        elif args.cmd == "trend":
            rows = await aq.trend_rows(store, pes, _query(settings, args, 84, None), args.interval)
        elif args.cmd == "overview":
            tables = await aq.overview_tables(
                store, pes, _query(settings, args, 84, ""), args.interval
            )
            rows = tables[args.table] if args.table else tables
        elif args.cmd == "health":
            rows = await aq.health_rows(store, pes, _query(settings, args, 30, ""), args.list)
            rows = rows[: args.limit]
        elif args.cmd == "retention":
            rows = await aq.retention_rows(store, _query(settings, args, 84, ""), args.weeks)
        else:
            if not 1 <= args.days <= 365:
                raise QueryError("--days must be 1 to 365")
            rows = await aq.funnel_rows(
                store, pes, _query(settings, args, 30, None), args.days, today
            )
    if args.format == "table" and args.cmd == "pes":
        print(pes_table(rows, parse_group_by(args.group_by)))
    elif args.format == "table" and args.cmd == "compare":
        print(compare_table(rows, args.baseline))
    elif args.format == "table" and args.cmd == "health":
        print(health_table(rows))
    elif args.format == "table" and args.cmd == "retention":
        print(retention_table(rows))
    else:
        _print(rows, args.format)
    return 0


async def _alerts(settings: CollectorSettings, once: bool) -> int:
    import httpx

    async with open_store(settings.storage.url, create=False) as store:
        if once:
            async with httpx.AsyncClient() as client:
                counts = await run_claimed(store, settings, client)
            print(json.dumps(counts if counts is not None else {"skipped": 1}))
            return 1 if counts and counts["failed"] else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"alerts: evaluating every {settings.alerts.interval_s:g} s", file=sys.stderr)
        await run_forever(store, settings, stop)
    return 0
