"""`pes-collector`: serve, import, report, analytics, provisioning, agents' configuration."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from collector.cli import agents as cli_agents
from collector.cli import analytics as cli_analytics
from collector.cli import export as cli_export
from collector.cli import outcomes as cli_outcomes
from collector.cli import provision
from collector.cli import releases as cli_releases
from collector.errors import QueryError
from collector.ingest import IngestLoop, now_ms, parse_import_line
from collector.jobs import retention_loop
from collector.records import ParsedMessage, QuarantineRow
from collector.reports import make_query, pes_rows, pes_table, release_keep, warm_up, warmstart
from collector.reports.releases import flush_releases
from collector.settings import ROLES, CollectorSettings, Role, load_settings
from collector.storage import Store, open_store
from shared.errors import ConfigError, PesError
from shared.topics import DEFAULT_SHARE_GROUP

log = logging.getLogger("pes-collector")
IMPORT_CHUNK = 2000


class Parser(argparse.ArgumentParser):
    """Usage mistakes as one line (`pes-collector: argument --start: 'x' is not a date: use
    YYYY-MM-DD`), exit status 2, instead of the usage text; `--help` still shows it. The
    sub-commands' parsers are of this class too (argparse makes them like their parent)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"pes-collector: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = Parser(prog="pes-collector", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    serve = sub.add_parser("serve", help="run MQTT ingest and the HTTP API")
    serve.add_argument("--config")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: ingest and every route; ingest: MQTT ingest, operations routes and writes; "
        "api: the read routes only, from a store it never writes (e.g. a read replica)",
    )

    imp = sub.add_parser("import", help="load events from a JSON-lines file")
    imp.add_argument("file")
    imp.add_argument("--config")

    rep = sub.add_parser("report", help="print the PES table")
    rep.add_argument("--config")
    rep.add_argument("--start", type=cli_analytics.iso_date)
    rep.add_argument("--end", type=cli_analytics.iso_date)
    rep.add_argument("--group-by")
    rep.add_argument("--entity", choices=["device", "account"], default="device")
    rep.add_argument("--stickiness", choices=["dau_mau", "dau_wau", "wau_mau"], default="dau_mau")
    rep.add_argument("--format", choices=["json", "table"], default="table")
    provision.add_parsers(sub)  # provision-device, provision-collector
    # pes, compare, trend, overview, health, funnel, retention, alerts
    cli_analytics.add_parsers(sub)
    cli_releases.add_parsers(sub)  # releases
    cli_outcomes.add_parsers(sub)  # outcomes import, outcomes report
    cli_export.add_parsers(sub)  # export (Parquet for a warehouse)
    cli_agents.add_parsers(sub)  # agents config set|show|clear
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd in provision.COMMANDS:  # needs no collector settings
        return provision.run(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.config)
        if args.cmd == "serve":
            return asyncio.run(serve(settings, host=args.host, port=args.port, role=args.role))
        if args.cmd == "import":
            return asyncio.run(import_file(settings, Path(args.file)))
        if args.cmd == cli_export.COMMAND:
            return asyncio.run(cli_export.run(settings, args))
        if args.cmd == cli_agents.COMMAND:
            return asyncio.run(cli_agents.run(settings, args))
        if args.cmd == cli_outcomes.COMMAND:
            return asyncio.run(cli_outcomes.run(settings, args))
        if args.cmd in cli_analytics.COMMANDS:
            return asyncio.run(cli_analytics.run(settings, args))
        if args.cmd in cli_releases.COMMANDS:
            return asyncio.run(cli_releases.run(settings, args))
        return asyncio.run(report(settings, args))
    except (ConfigError, QueryError, FileNotFoundError) as exc:  # shared's ConfigError: any side
        print(f"pes-collector: {exc}", file=sys.stderr)
        return 2
    except PesError as exc:
        print(f"pes-collector: {exc}", file=sys.stderr)
        return 1


async def serve(
    settings: CollectorSettings, *, host: str | None, port: int | None, role: Role = "all"
) -> int:
    import uvicorn  # only the server needs it

    from collector.api import AppState, create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.api.open:
        log.warning("no API tokens configured: the HTTP API is open to anyone who can reach it")
    ingesting = role != "api" and settings.ingest.enabled
    if ingesting and settings.ingest.share_group == DEFAULT_SHARE_GROUP and settings.mqtt.username:
        # Mosquitto does not restrict who joins a shared subscription (security.md): a device
        # that guesses the group takes a share of other devices' batches (resent, delayed).
        log.warning(
            "[ingest] share_group is the default %r with broker authentication on: devices can "
            "guess it and delay other devices' batches; set a random group name (deploy.md)",
            DEFAULT_SHARE_GROUP,
        )
    # Role api never writes: no migrations, no ingest, no retention (the primary's do that).
    async with open_store(settings.storage.url, create=role != "api") as store:
        warming = None
        if role != "ingest":  # the roles that hold the analytics state in memory
            warmstart.keep_warm(store, settings.storage)
            release_keep.keep(store, settings.storage)
            warming = asyncio.create_task(_warm_up(store, settings), name="warm-up")
        ingest = IngestLoop(settings, store) if role != "api" else None
        app = create_app(AppState(settings, store, ingest, role, warming))
        config = uvicorn.Config(
            app,
            host=host or settings.api.host,
            port=port if port is not None else settings.api.port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        tasks = [asyncio.create_task(server.serve(), name="http")]
        if ingest is not None and ingesting:
            tasks.append(asyncio.create_task(ingest.run_forever(stop), name="ingest"))
        if role != "api":
            retention = retention_loop(settings, store, stop)
            tasks.append(asyncio.create_task(retention, name="retention"))
        log.info("collector (role %s) serving on http://%s:%s", role, config.host, config.port)
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        server.should_exit = True
        if warming is not None:
            warming.cancel()
        await asyncio.gather(*tasks, *([warming] if warming else []), return_exceptions=True)
        await warmstart.flush(store)  # the next start reads it and only what changed since
        await flush_releases(store)  # and the release Fleet, then only the devices changed
        for t in done:
            if t is not stopper and t.exception() is not None:
                log.error("%s failed: %s", t.get_name(), t.exception())
                return 1
    return 0


async def _warm_up(store: Store, settings: CollectorSettings) -> None:
    started = time.monotonic()
    try:
        await warm_up(store, settings.pes)
    except (PesError, OSError) as exc:  # the store down at start: the first request retries
        log.warning("analytics warm-up failed, the first request builds the state: %s", exc)
        raise
    log.info("analytics state warm in %.1f s", time.monotonic() - started)


async def import_file(settings: CollectorSettings, path: Path) -> int:
    """Same validation and dedup path as MQTT ingest; prints a summary as JSON."""
    tz = settings.pes.tz
    totals = {"lines": 0, "stored": 0, "duplicates": 0, "quarantined": 0}
    async with open_store(settings.storage.url) as store:
        with path.open(encoding="utf-8", errors="replace") as fh:
            unit = ParsedMessage()
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                totals["lines"] += 1
                row = parse_import_line(line, f"import:{path.name}:{n}", now_ms(), tz)
                if isinstance(row, QuarantineRow):
                    unit.quarantined.append(row)
                else:
                    unit.events.append(row)
                if len(unit.events) + len(unit.quarantined) >= IMPORT_CHUNK:
                    await _write(store, unit, totals)
                    unit = ParsedMessage()
            await _write(store, unit, totals)
    print(json.dumps(totals))
    return 0


async def _write(store: Store, unit: ParsedMessage, totals: dict[str, int]) -> None:
    if not unit.events and not unit.quarantined:
        return
    (c,) = await store.write([unit], now_ms())
    totals["stored"] += c.stored
    totals["duplicates"] += c.duplicates
    totals["quarantined"] += c.quarantined


async def report(settings: CollectorSettings, args: argparse.Namespace) -> int:
    q = make_query(
        settings.pes,
        start=args.start,
        end=args.end,
        group_by=args.group_by,
        entity=args.entity,
        stickiness=args.stickiness,
    )
    async with open_store(settings.storage.url, create=False) as store:
        rows = await pes_rows(store, settings.pes, q)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    else:
        print(pes_table(rows, q.group_by))
    return 0
