"""The demo: a fleet of a few thousand devices with months of history (imported as JSON lines),
customer outcomes, and a live fleet of real agents (each with its own MQTT connection and
SQLite buffer) behind a private Mosquitto and a real collector process. It prints the PES
table, the release impact and the health-vs-renewal bands, then serves the API and the
dashboard while the agents keep working as their profiles say (docs/demo.md).

    scripts/demo [--exit] [--serve-seconds S] [--live-rate R] [--port 8080] [--seed 2026]
                 [--devices 2400] [--agents 100] [--accounts 80] [--days 90] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from devkit.broker import LocalBroker, free_port
from scripts.demo_fleet import (
    CORE,
    KEY_ACTIONS,
    MIN_DAYS,
    Fleet,
    build_fleet,
    history_lines,
    write_outcomes,
)
from scripts.demo_live import LiveStats, run_fleet
from scripts.demo_print import print_guide, print_outcomes, print_pes, print_releases

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "demo-token"


def collector_config(work: Path, mqtt_port: int, http_port: int) -> Path:
    def table(d: dict[str, list[str]]) -> str:
        return "\n".join(f'"{k}" = {json.dumps(v)}' for k, v in d.items())

    conf = work / "collector.toml"
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{work}/collector.db"\n'
        f'[pes]\ntimezone = "UTC"\n[pes.core_features]\n{table(CORE)}\n'
        # Key actions: the advanced feature of each type, 40 uses a month for full marks; an
        # account falling 15 points since the previous period is at risk too.
        f"[pes.health]\ntarget_uses_per_30_days = 40\nfalling_points = 15\n"
        f"[pes.health.key_actions]\n{table(KEY_ACTIONS)}\n"
        f"[mqtt]\nport = {mqtt_port}\n"
        f'[api]\nhost = "127.0.0.1"\nport = {http_port}\ntokens = ["{TOKEN}"]\n'
    )
    return conf


async def cli(conf: Path, *args: str) -> str:
    """A collector command (`python -m collector.cli ...`); its stdout, or exit with its error."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", *args, "--config", str(conf),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # Ctrl-C (cancelled) or a failure: nothing left behind
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"collector {args[0]} failed: {err.decode(errors='replace')}")
    return out.decode()


async def wait_http(url: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise SystemExit(f"collector exited early (code {proc.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url, timeout=1)
                return
            await asyncio.sleep(0.2)
    raise SystemExit(f"collector did not answer at {url}")


IMPORTERS = 2  # import processes side by side: one parses while the other holds the write lock


def write_history(fleet: Fleet, paths: Sequence[Path], now_ms: int) -> int:
    """The imported devices' history, a device's lines in one file of `paths` (round robin)."""
    lines = 0
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(p.open("w")) for p in paths]
        for i, chunk in enumerate(history_lines(fleet, now_ms)):
            files[i % len(files)].write(chunk)
            lines += chunk.count("\n")
    return lines


async def import_history(fleet: Fleet, work: Path, conf: Path) -> tuple[int, float]:
    """The imported devices' history written to `history-*.jsonl` and loaded with
    `collector.cli import`, in IMPORTERS processes side by side (about 20% sooner than one on
    a busy 2-core machine: one parses and validates while the other writes); returns
    (lines, seconds). Runs beside the live fleet's replay."""
    t0 = time.monotonic()
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    paths = [work / f"history-{i}.jsonl" for i in range(IMPORTERS)]
    lines = await asyncio.to_thread(write_history, fleet, paths, now_ms)
    outs = await asyncio.gather(*(cli(conf, "import", str(p)) for p in paths))
    stored = sum(json.loads(out)["stored"] for out in outs)
    if stored != lines:
        raise SystemExit(f"collector import stored {stored} of {lines} lines: {outs}")
    return lines, time.monotonic() - t0


async def start_collector(conf: Path, work: Path, base: str) -> asyncio.subprocess.Process:
    with (work / "collector.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collector.cli", "serve", "--config", str(conf),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    await wait_http(f"{base}/healthz", proc)
    return proc


async def load_fleet(
    fleet: Fleet, work: Path, conf: Path, task: asyncio.Task[None],
    backfilled: asyncio.Future[tuple[int, float]],
) -> None:  # fmt: skip
    """The history import and the live fleet's replay, side by side; then the outcomes."""
    print(f"history    {len(fleet.devices)} devices of {len(fleet.accounts)} accounts, "
          f"{fleet.days} days, imported through collector.cli import ...")  # fmt: skip
    print(f"live fleet {len(fleet.agents)} real agents replay their history through MQTT ...")
    imported = asyncio.create_task(import_history(fleet, work, conf))
    waiters: list[asyncio.Future[Any]] = [task, backfilled]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if not backfilled.done():
        imported.cancel()
        await task  # the fleet failed before finishing: show why
    n, secs = backfilled.result()
    print(f"           agents: {n} events recorded, delivered and acknowledged in {secs:.1f} s")
    lines, secs = await imported
    print(f"           import: {lines} events stored in {secs:.1f} s")
    out = await cli(conf, "outcomes", "import", str(work / "outcomes.jsonl"))
    print(f"outcomes   {json.loads(out)['stored']} renewal decisions imported (collector.cli "
          "outcomes import)")  # fmt: skip


async def main_async(args: argparse.Namespace) -> int:
    t_start = time.monotonic()
    work = Path(args.work_dir) if args.work_dir else ROOT / ".demo"
    shutil.rmtree(work, ignore_errors=True)
    (work / "agents").mkdir(parents=True)
    http_port = args.port if args.port and _port_free(args.port) else free_port()
    base = f"http://127.0.0.1:{http_port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fleet = build_fleet(args.seed, args.devices, args.agents, args.accounts, args.days)
    with (work / "outcomes.jsonl").open("w") as fh:
        write_outcomes(fleet, fh, args.seed)
    async with LocalBroker() as broker:
        print(f"broker     mosquitto on 127.0.0.1:{broker.port} (private to this demo)")
        conf = collector_config(work, broker.port, http_port)
        proc = await start_collector(conf, work, base)
        try:
            print(f"collector  {base} (log: {work / 'collector.log'})")
            backfilled: asyncio.Future[tuple[int, float]] = loop.create_future()
            live_done: asyncio.Future[LiveStats] = loop.create_future()
            serving = asyncio.Event()  # the tables are printed: live traffic may begin
            live_seconds = args.serve_seconds
            task = asyncio.create_task(
                run_fleet(fleet, work, broker.port, stop, serving, backfilled, args.live_rate,
                          live_seconds, live_done)
            )  # fmt: skip
            loading = asyncio.create_task(load_fleet(fleet, work, conf, task, backfilled))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([loading, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not loading.done():  # Ctrl-C while loading: stop now, not after the import
                loading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loading
                await task
                return 130
            stopping.cancel()
            await loading
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
            ) as api:
                await print_pes(api, work / "printed")
                await print_releases(api, work / "printed")
                await print_outcomes(api, work / "printed")
            print_guide(base, TOKEN)
            print(f"\ndemo ready in {time.monotonic() - t_start:.0f} s", flush=True)
            if not args.exit:
                serving.set()
                until = "" if args.serve_seconds is None else f" for {args.serve_seconds:g} s"
                print(
                    f"\nThe live fleet keeps working as its profiles say{until} "
                    f"(about {args.live_rate:g} sessions a second). Ctrl-C to stop.",
                    flush=True,
                )
                waiters: list[asyncio.Future[Any]] = [task, live_done]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if live_done.done():
                    s = live_done.result()
                    print(
                        f"live       {s.sessions} sessions, {s.events} events sent and "
                        "acknowledged; still serving. Ctrl-C to stop.",
                        flush=True,
                    )
                await stop.wait()
            stop.set()
            await task
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
    return 0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--exit", action="store_true", help="exit after the report (no live serving)")
    p.add_argument(
        "--serve-seconds",
        type=float,
        default=None,
        help="live traffic for this long, then serve without it (default: until Ctrl-C)",
    )
    p.add_argument("--live-rate", type=float, default=0.5, help="live sessions a second")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--devices", type=int, default=2400, help="devices with imported history")
    # paho watches sockets with select(), which stops at fd 1023: one process holds ~100 agents
    p.add_argument("--agents", type=int, default=100, help="live devices: real agents")
    p.add_argument("--accounts", type=int, default=80)
    p.add_argument("--days", type=int, default=90, help=f"days of history, at least {MIN_DAYS}")
    p.add_argument("--work-dir", help="where the demo's files go (default: .demo, emptied)")
    args = p.parse_args()
    if args.days < MIN_DAYS:
        p.error(f"--days must be at least {MIN_DAYS}")
    if args.live_rate <= 0:
        p.error("--live-rate must be positive")
    if not 1 <= args.accounts <= 80:
        p.error("--accounts must be 1 to 80")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
