"""The demo: a private Mosquitto, a real collector process, a fleet of real agents (each with its
own MQTT connection and SQLite buffer) that backfill weeks of history, then the PES comparison.

    scripts/demo [--devices 100] [--days 75] [--port 8080] [--exit]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from agent.agent import Agent
from agent.settings import AgentSettings, MqttSettings
from collector.reports import pes_table
from devkit.broker import LocalBroker, free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "demo-token"
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Profile:
    """How engaged devices of one configuration are: the differences the PES should reveal."""

    device_type: str
    firmware: str
    p_active: float  # chance a device is used on a given day
    features: dict[str, float]  # chance each feature is used in a session
    p_churn: float  # chance a device stops being used before the last 30 days
    p_new: float  # chance a device is installed during the last 30 days
    p_pause: float  # chance a device pauses for the 30 days before and comes back


PRESS_OLD = {"calibrate": 0.8, "export": 0.2, "recipes": 0.02}
PRESS_NEW = {"calibrate": 0.8, "export": 0.5, "recipes": 0.5}
LATHE_OLD = {"jog": 0.9, "spindle": 0.3, "probe": 0.01}
LATHE_NEW = {"jog": 0.9, "spindle": 0.6, "probe": 0.3}
PROFILES = [
    Profile("press-x", "2.0", 0.45, PRESS_OLD, p_churn=0.25, p_new=0.05, p_pause=0.05),
    Profile("press-x", "2.1", 0.70, PRESS_NEW, p_churn=0.05, p_new=0.25, p_pause=0.10),
    Profile("lathe-9", "1.4", 0.35, LATHE_OLD, p_churn=0.30, p_new=0.05, p_pause=0.02),
    Profile("lathe-9", "1.5", 0.55, LATHE_NEW, p_churn=0.10, p_new=0.15, p_pause=0.10),
    Profile("lathe-9", "1.6-beta", 0.50, LATHE_NEW, p_churn=0.15, p_new=0.40, p_pause=0.0),
]
CORE = {"press-x": ["calibrate", "export", "recipes"], "lathe-9": ["jog", "spindle", "probe"]}
ACCOUNTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell"]


def collector_config(work: Path, mqtt_port: int, http_port: int) -> Path:
    core = "\n".join(f'"{k}" = {v!r}'.replace("'", '"') for k, v in CORE.items())
    conf = work / "collector.toml"
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{work}/collector.db"\n'
        f'[pes]\ntimezone = "UTC"\n[pes.core_features]\n{core}\n'
        f"[mqtt]\nport = {mqtt_port}\n"
        f'[api]\nhost = "127.0.0.1"\nport = {http_port}\ntokens = ["{TOKEN}"]\n'
    )
    return conf


def agent_settings(work: Path, i: int, prof: Profile, mqtt_port: int) -> AgentSettings:
    return AgentSettings(
        device_id=f"{prof.device_type}-{i:03d}",
        device_type=prof.device_type,
        firmware_version=prof.firmware,
        account_id=ACCOUNTS[i % len(ACCOUNTS)],
        labels={"region": ["eu", "us", "apac"][i % 3]},
        buffer_path=work / "agents" / f"{i:03d}.db",
        mqtt=MqttSettings(port=mqtt_port),
        linger_ms=50,
        ack_timeout_s=5,
    )


async def backfill(agent: Agent, prof: Profile, rng: random.Random, days: int) -> int:
    """Replay `days` of this device's history through the agent, with the true past timestamps."""
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    period = days - 30  # day index where the last 30 days (the default PES period) begin
    lifecycle = rng.choices(
        ["churn", "new", "pause", "steady"],
        [prof.p_churn, prof.p_new, prof.p_pause, 1 - prof.p_churn - prof.p_new - prof.p_pause],
    )[0]
    active_days = range(days)
    if lifecycle == "churn":
        active_days = range(rng.randrange(period // 2, period))
    elif lifecycle == "new":
        active_days = range(rng.randrange(period, days - 3), days)
    n = 0
    for d in active_days:
        if lifecycle == "pause" and period - 30 <= d < period:
            continue
        if rng.random() >= prof.p_active:
            continue
        t = int((today - timedelta(days=days - 1 - d)).timestamp() * 1000) + rng.randrange(
            7 * 3_600_000, 17 * 3_600_000
        )
        uses: list[tuple[str, int]] = []
        minutes = 0
        for feature, p in prof.features.items():
            if rng.random() < p:
                minutes += rng.randrange(2, 20)
                uses.append((feature, minutes * 60_000))
        span = (minutes + 1) * 60_000
        # Today's session must not end in the future: the collector rightly quarantines events
        # stamped more than 10 minutes ahead of its clock (clock_unknown).
        t = min(t, now_ms - span)
        session = f"s{d}-{rng.randrange(1_000_000)}"
        day = [agent.record("session_start", session_id=session, ts_ms=t)]
        for feature, offset in uses:
            day.append(agent.record("feature_use", feature, session_id=session, ts_ms=t + offset))
        duration = {"duration_s": span // 1000}
        day.append(agent.record("session_end", session_id=session, ts_ms=t + span, props=duration))
        await asyncio.gather(*day)  # one group commit for the day's events
        n += len(day)
    return n


async def run_fleet(
    work: Path,
    mqtt_port: int,
    devices: int,
    days: int,
    stop: asyncio.Event,
    backfilled: asyncio.Future[tuple[int, float]],
) -> None:
    """Backfill, report through `backfilled`, then trickle live events until `stop`."""
    rng = random.Random(2026)
    async with contextlib.AsyncExitStack() as stack:
        fleet = []
        for i in range(devices):
            prof = PROFILES[i % len(PROFILES)]
            agent = await stack.enter_async_context(Agent(agent_settings(work, i, prof, mqtt_port)))
            fleet.append((agent, prof, random.Random(rng.random())))
        t0 = time.monotonic()
        counts = await asyncio.gather(*(backfill(a, p, r, days) for a, p, r in fleet))
        flushed = await asyncio.gather(*(a.flush(timeout=120) for a, _, _ in fleet))
        if not all(flushed):
            print("warning: some agents still hold unacknowledged events: "
                  "the table below is partial", file=sys.stderr)  # fmt: skip
        backfilled.set_result((sum(counts), time.monotonic() - t0))
        while not stop.is_set():
            agent, prof, r = fleet[rng.randrange(len(fleet))]
            await agent.record("feature_use", r.choice(list(prof.features)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)


async def wait_http(url: str, proc: asyncio.subprocess.Process, timeout: float = 30) -> None:
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


async def show(http_port: int, group_by: str, title: str) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(
            f"http://127.0.0.1:{http_port}/v1/pes",
            params={"group_by": group_by},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
    r.raise_for_status()
    print(f"\n{title}\n")
    print(pes_table(r.json(), [g for g in group_by.split(",") if g]))


async def main_async(args: argparse.Namespace) -> int:
    work = ROOT / ".demo"
    shutil.rmtree(work, ignore_errors=True)
    (work / "agents").mkdir(parents=True)
    http_port = args.port if args.port and _port_free(args.port) else free_port()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LocalBroker() as broker:
        print(f"broker     mosquitto on 127.0.0.1:{broker.port} (private to this demo)")
        conf = collector_config(work, broker.port, http_port)
        with (work / "collector.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "collector.cli", "serve", "--config", str(conf),
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            await wait_http(f"http://127.0.0.1:{http_port}/healthz", proc)
            print(f"collector  http://127.0.0.1:{http_port} (log: {work / 'collector.log'})")
            print(f"fleet      {args.devices} agents, {len(PROFILES)} configurations, "
                  f"backfilling {args.days} days of history through MQTT ...")  # fmt: skip
            backfilled: asyncio.Future[tuple[int, float]] = loop.create_future()
            fleet = asyncio.create_task(
                run_fleet(work, broker.port, args.devices, args.days, stop, backfilled)
            )
            waiters: list[asyncio.Future[Any]] = [fleet, backfilled]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not backfilled.done():
                await fleet  # the fleet failed before finishing: show why
            n, secs = backfilled.result()
            print(f"           {n} events recorded, delivered and acknowledged in {secs:.1f} s")
            await show(
                http_port, "device_type,firmware_version", "PES, last 30 days, by configuration:"
            )
            await show(http_port, "device_type", "PES, last 30 days, by device type:")
            url = f"http://127.0.0.1:{http_port}/?token={TOKEN}"
            print(f"\nDashboard:  {url}")
            print(f"API:        curl -H 'Authorization: Bearer {TOKEN}' "
                  f"'http://127.0.0.1:{http_port}/v1/pes?group_by=firmware_version'")  # fmt: skip
            if not args.exit:
                print("\nThe fleet keeps sending live events. Ctrl-C to stop.")
                await stop.wait()
            stop.set()
            await fleet
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
    return 0


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    # paho watches sockets with select(), which stops at fd 1023: one process holds ~100 agents
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--days", type=int, default=75)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--exit", action="store_true", help="exit after the report (no live serving)")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
