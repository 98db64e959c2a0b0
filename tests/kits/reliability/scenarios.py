"""The fault scenarios of the reliability table (docs/reliability.md). Each one runs a Rig
(real Mosquitto, real `pes-agent run` and `pes-collector serve` processes), injects its fault
while events keep coming, heals it, and returns an Outcome. `quick` is the test suite's size;
the soak size (`quick=False`) runs under `pytest -m slow` and `scripts/reliability --soak`.

Time to recover: from the end of the fault (the process restarted, the link back, the space
freed) until every agent's buffer is empty, i.e. the collector committed and acked it all."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from devkit.broker import free_port
from tests.kits.reliability.clockshift import shifted_cli
from tests.kits.reliability.fault_rig import Outcome, Rig
from tests.kits.reliability.private_pg import PrivatePg
from tests.kits.reliability.tmpfs import TmpfsUnavailable, fill, tmpfs_prefix

Scenario = Callable[[Path, bool], Awaitable[Outcome]]


async def _kill_repeatedly(
    tmp: Path,
    name: str,
    rounds: int,
    pause: tuple[float, float],
    kill: Callable[[Rig], Awaitable[None]],
) -> Outcome:
    async with Rig(tmp) as rig:
        rig.start_feeding()
        for _ in range(rounds):
            await asyncio.sleep(rig.rng.uniform(*pause))
            await kill(rig)
        healed = time.monotonic()
        await rig.stop_feeding()
        return await rig.outcome(name, await rig.settle(healed), f"{rounds} kills")


async def agent_kill9(tmp: Path, quick: bool) -> Outcome:
    async def kill(rig: Rig) -> None:
        a = rig.rng.choice(rig.fleet)
        rig.kill_agent(a)  # mid-intake: lines in flight, a group commit in progress
        await rig.start_agent(a)

    return await _kill_repeatedly(tmp, "agent kill -9", 6 if quick else 40, (0.3, 1.2), kill)


async def collector_kill9(tmp: Path, quick: bool) -> Outcome:
    async def kill(rig: Rig) -> None:
        rig.collector.kill9()  # mid-commit: no chance to finish the transaction or ack
        await rig.collector.start()

    return await _kill_repeatedly(tmp, "collector kill -9", 4 if quick else 20, (0.5, 1.5), kill)


async def broker_kill9(tmp: Path, quick: bool) -> Outcome:
    down = 5.0 if quick else 60.0
    async with Rig(tmp) as rig:
        rig.start_feeding()
        await asyncio.sleep(2)
        await asyncio.to_thread(rig.broker.stop, kill=True)  # persistence off: all state gone
        await asyncio.sleep(down)
        await asyncio.to_thread(rig.broker.start)  # same port, empty
        healed = time.monotonic()
        await rig.stop_feeding()
        return await rig.outcome(
            "broker kill -9 (no persistence)", await rig.settle(healed), f"down {down:g} s"
        )


async def _net_cut(tmp: Path, quick: bool, name: str, overflow: bool) -> Outcome:
    down = 20.0 if quick else 180.0
    # Overflow: a 1 MiB buffer and a faster stream, so drop_oldest has to make room.
    extra = {"max_buffer_mb": 1} if overflow else {}
    async with Rig(tmp, agents=2 if overflow else 3, agent_extra=extra) as rig:
        if overflow:
            rig.rate_eps = 1500
        rig.start_feeding()
        await asyncio.sleep(2)
        rig.net.cut()
        await asyncio.sleep(down)  # events keep coming
        rig.net.heal()
        healed = time.monotonic()
        await rig.stop_feeding()
        out = await rig.outcome(name, await rig.settle(healed), f"cut {down:g} s")
        if overflow and out.dropped == 0:
            out.failures.append("the buffer never overflowed: the scenario proves nothing")
        return out


async def net_cut(tmp: Path, quick: bool) -> Outcome:
    return await _net_cut(tmp, quick, "network cut", overflow=False)


async def net_cut_overflow(tmp: Path, quick: bool) -> Outcome:
    return await _net_cut(tmp, quick, "network cut, buffer overflow", overflow=True)


async def wrong_clocks(tmp: Path, quick: bool) -> Outcome:
    """gw-0 rebooted with its clock at 1970-01-01, gw-1 six hours ahead, gw-2 right: every
    event is stored at its true time (within minutes of its arrival), on the right day."""
    now_ms = time.time_ns() // 1_000_000
    offsets = [3_600_000 - now_ms, 6 * 3_600_000, 0]
    async with Rig(tmp, agents=0) as rig:
        for i, off in enumerate(offsets):
            a = rig.add_agent(f"gw-{i}", cli=shifted_cli(off))
            await rig.start_agent(a)
        rig.start_feeding()
        await asyncio.sleep(5 if quick else 60)
        stop = time.monotonic()
        await rig.stop_feeding()
        out = await rig.outcome(
            "clock at 1970 / 6 h ahead", await rig.settle(stop), "gw-0 at 1970, gw-1 +6 h"
        )
        rows = await rig.collector.rows("device_id, ts_ms, received_ms, day, clock_method")
        for device, ts, received, day, method in rows:
            true_day = dt.datetime.fromtimestamp(received / 1000, dt.UTC).date().isoformat()
            if abs(ts - received) > 10 * 60_000 or str(day) != true_day:
                out.failures.append(f"{device}: stored at {ts} ({day}, {method}), got {received}")
                break
        walls = {d: w for d, w in await rig.collector.rows("device_id, wall_ms")}
        if not (
            walls["gw-0"] < 86_400_000 * 365 and walls["gw-1"] > time.time() * 1000 + 5 * 3.6e6
        ):
            out.failures.append(f"the clocks were not shifted: {walls}")
        methods = {d: m for d, _, _, _, m in rows}
        if methods.get("gw-0") == "wall" or methods.get("gw-1") == "wall":
            out.failures.append(f"a wrong wall clock was trusted: {methods}")
        return out


async def disk_full(tmp: Path, quick: bool) -> Outcome:
    """gw-0's buffer directory is a 4 MiB tmpfs of its own (a private mount namespace); the
    link is cut so the buffer grows, then the disk is filled: intake answers errors. The link
    comes back while the disk is still full (acks arrive, deleting needs room in the WAL too),
    then space is freed. Nothing stored is lost, the agent stays up, says so, and recovers."""
    bufdir = tmp / "buffer-fs"
    bufdir.mkdir()
    metrics = free_port()
    extra = {
        "prefix": tmpfs_prefix(bufdir, 4096),
        "buffer_path": bufdir / "gw-0.db",
        "metrics_port": metrics,
    }
    async with Rig(tmp, agents=1, agent_extra=extra) as rig:
        proc = rig.fleet[0].proc
        assert proc is not None  # started by the rig, and never restarted here
        rig.start_feeding()
        await asyncio.sleep(2)
        rig.net.cut()
        await asyncio.sleep(1)
        filler = Path(f"/proc/{proc.pid}/root{bufdir}/filler")
        await asyncio.to_thread(fill, filler, keep_free=128 * 1024)
        refused_before = len(rig.errors)
        await asyncio.sleep(5 if quick else 60)  # full: intake keeps failing, keeps running
        failures = []
        if proc.poll() is not None:
            failures.append(f"the agent died on a full disk (exit {proc.returncode})")
        if len(rig.errors) == refused_before:
            failures.append("the disk never filled: no intake was refused")
        elif not all(b"full" in e for e in rig.errors[refused_before:]):
            failures.append(f"a refusal without its reason: {rig.errors[-1]!r}")
        text = (await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{metrics}/metrics")).text
        if not re.search(r"^pes_agent_commit_failures_total\{[^}]*\} [1-9]", text, re.M):
            failures.append("the agent's metrics do not show the failing commits")
        rig.net.heal()
        await asyncio.sleep(3)  # acks for a full disk
        if proc.poll() is not None:
            failures.append(f"the agent died on acks with a full disk ({proc.returncode})")
        await asyncio.to_thread(filler.unlink)
        healed = time.monotonic()
        await asyncio.sleep(2)  # events keep coming once there is room again
        await rig.stop_feeding()
        out = await rig.outcome("agent disk full", await rig.settle(healed), "4 MiB tmpfs")
        log = (tmp / "gw-0.log").read_text()
        if "buffer writes failing" not in log or "buffer writes succeed again" not in log:
            failures.append("the agent's log does not say the disk was full and recovered")
        out.failures += failures
        return out


async def postgres_restart(tmp: Path, quick: bool) -> Outcome:
    down = 5.0 if quick else 60.0
    with PrivatePg() as pg:
        async with Rig(tmp, storage_url=pg.dsn) as rig:
            rig.start_feeding()
            for _ in range(1 if quick else 3):
                await asyncio.sleep(3)
                await asyncio.to_thread(pg.stop, "immediate")  # as if it crashed
                await asyncio.sleep(down)
                await asyncio.to_thread(pg.start)
            healed = time.monotonic()
            await rig.stop_feeding()
            out = await rig.outcome("PostgreSQL restart", await rig.settle(healed), pg.version)
            if rig.collector.proc is None or rig.collector.proc.poll() is not None:
                out.failures.append("the collector did not ride through the restart")
            # Copies the collector discarded: the agents' resends while the database was down
            # (each waits for the collector at the broker). Without the resend backoff the
            # soak's were 23 per stored event and its drain took a minute.
            stats = await asyncio.to_thread(rig.collector.stats)
            ratio = stats["ingest"]["duplicates"] / max(1, out.stored)
            out.fault += f", {ratio:.1f} resent copies per event"
            if ratio > MAX_COPIES_PER_EVENT:
                out.failures.append(f"{ratio:.1f} resent copies per event: resends not backed off")
            return out


MAX_COPIES_PER_EVENT = 5.0


SCENARIOS: dict[str, Scenario] = {
    "agent_kill9": agent_kill9,
    "collector_kill9": collector_kill9,
    "broker_kill9": broker_kill9,
    "net_cut": net_cut,
    "net_cut_overflow": net_cut_overflow,
    "wrong_clocks": wrong_clocks,
    "disk_full": disk_full,
    "postgres_restart": postgres_restart,
}

__all__ = ["SCENARIOS", "Outcome", "Scenario", "TmpfsUnavailable"]
