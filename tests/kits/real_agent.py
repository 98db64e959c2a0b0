"""Helpers for the agent's tests against the real collector (`pes-collector serve`, its own
process, SQLite) and `pes-agent run` processes fed through their Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.kits.pes import api_get, start_collector, stop, wait_http, write_collector_config

LINE = b'{"kind":"feature_use","feature":"calibrate","session_id":"s-1"}\n'


def _toml(values: dict[str, Any]) -> list[str]:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        return f'"{v}"' if isinstance(v, str | Path) else str(v)

    return [f"{k} = {value(v)}" for k, v in values.items()]


def agent_config(
    tmp_path: Path,
    port: int,
    device_id: str = "gw-real",
    *,
    mqtt: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """An agent's TOML in tmp_path; `extra` (top-level keys) and `mqtt` override the defaults."""
    top: dict[str, Any] = {
        "device_id": device_id,
        "device_type": "gateway-x1",
        "firmware_version": "4.2.1",
        "account_id": "acme",
        "buffer_path": tmp_path / f"{device_id}.db",
        "linger_ms": 20,
        "ack_timeout_s": 3,
        **extra,
    }
    broker = {"port": port, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5, **(mqtt or {})}
    conf = tmp_path / f"{device_id}.toml"
    conf.write_text("\n".join([*_toml(top), "[mqtt]", *_toml(broker)]) + "\n")
    return conf


AGENT_CLI = ["-m", "agent.cli"]


def start_agent(
    conf: Path, log: Path, *, prefix: Sequence[str] = (), cli: Sequence[str] = AGENT_CLI
) -> subprocess.Popen[bytes]:
    """`pes-agent run`; `prefix` wraps the interpreter (e.g. unshare), `cli` replaces `-m
    agent.cli` (e.g. a clock-shifting launcher)."""
    with log.open("ab") as fh:
        return subprocess.Popen(
            [*prefix, sys.executable, *cli, "run", "--config", str(conf)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def wait_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            _, w = await asyncio.open_unix_connection(str(path))
            w.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"agent socket {path}")


class AgentStalled(AssertionError):
    """The agent held the socket open but stopped answering (or reading): a hang, reported as
    the test's failure. Not an OSError, which `feed` reads as "the agent was killed"."""


async def feed(
    path: Path,
    acked: set[str],
    *,
    lines: int | None = None,
    chunk: int = 200,
    errors: list[bytes] | None = None,
    until: asyncio.Event | None = None,
    pace_s: float = 0.0,
    stall_s: float = 60.0,
) -> int:
    """Pipeline events into an agent's socket until `lines` are answered, `until` is set (then
    the replies in flight are awaited) or the connection breaks (the agent was killed); every
    id it answered ok for goes into `acked`, every error reply into `errors`. `pace_s`: a pause
    after each chunk (a steady rate instead of as fast as it goes). Returns how many lines were
    answered. An agent that holds lines unanswered for `stall_s` raises AgentStalled saying how
    far it got, instead of hanging until the test's timeout kills the loop (which leaks the
    test's threads into the tests after it)."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 22)
    except OSError:
        return 0
    answered = sent = 0
    progress = asyncio.Event()

    async def read() -> None:
        nonlocal answered
        buf = b""
        while lines is None or answered < lines:
            try:
                data = await asyncio.wait_for(reader.read(1 << 20), stall_s)
            except TimeoutError:
                if sent > answered:
                    raise AgentStalled(
                        f"agent answered {answered} of {sent} lines, then nothing for {stall_s}s"
                    ) from None
                continue  # nothing asked yet (paced or waiting on `until`): keep listening
            if not data:
                return
            buf += data
            *complete, buf = buf.split(b"\n")
            for line in complete:
                answered += 1
                if line.startswith(b'{"ok":true,"id":"'):
                    acked.add(line[17:53].decode())
                elif errors is not None:
                    errors.append(line)
            progress.set()

    reading = asyncio.create_task(read())
    try:
        while not reading.done() and (lines is None or sent < lines):
            if until is not None and until.is_set():
                if answered >= sent:
                    return answered
                await asyncio.wait([reading], timeout=0.05)
                continue
            n = chunk if lines is None else min(chunk, lines - sent)
            writer.write(LINE * n)
            sent += n
            try:
                await asyncio.wait_for(writer.drain(), stall_s)
            except TimeoutError:
                raise AgentStalled(f"agent read nothing for {stall_s}s, {sent} sent") from None
            if pace_s:
                await asyncio.sleep(pace_s)
            while sent - answered > 20 * chunk and not reading.done():
                progress.clear()  # keep a bounded number of lines in flight
                waiter = asyncio.ensure_future(progress.wait())
                await asyncio.wait([reading, waiter], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        await reading
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(BaseException):
            await reading
        writer.close()
    return answered


def kill9(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def stored_ids(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as c:
        return [r[0] for r in c.execute("SELECT event_id FROM events")]


async def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(cond):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.25)


class Collector:
    """`pes-collector serve` on the test's broker, with its SQLite file in tmp_path (or the
    database at `storage_url`)."""

    def __init__(self, tmp_path: Path, mqtt_port: int, storage_url: str | None = None) -> None:
        self.tmp = tmp_path
        self.conf, self.http = write_collector_config(tmp_path, mqtt_port, storage_url=storage_url)
        self.db = tmp_path / "collector.db"
        self.url = storage_url or f"sqlite:///{self.db}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = start_collector(self.conf, self.tmp / "collector.log")
        url = f"http://127.0.0.1:{self.http}/healthz"
        await asyncio.to_thread(wait_http, url, 60, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, 20)
            self.proc = None

    def kill9(self) -> None:
        if self.proc is not None:
            kill9(self.proc)
            self.proc = None

    def stats(self) -> dict[str, Any]:
        return dict(api_get(self.http, "/v1/stats"))

    def device(self, device_id: str) -> dict[str, Any]:
        rows = api_get(self.http, "/v1/devices")
        rows = rows.get("devices", rows) if isinstance(rows, dict) else rows
        return next(d for d in rows if d["device_id"] == device_id)

    async def rows(self, columns: str = "device_id, event_id") -> list[tuple[Any, ...]]:
        """Every stored event's `columns` (a constant list of column names, no input)."""
        sql = f"SELECT {columns} FROM events"  # noqa: S608 - columns come from the test code
        if self.url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
                return [tuple(r) for r in c.execute(sql)]
        import asyncpg

        con = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await con.fetch(sql)]
        finally:
            await con.close()
