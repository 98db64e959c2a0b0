"""What every part of the scale suite (bench/scale.py) shares: process accounting from /proc,
a scratch PostgreSQL database, and an agent's retained status as the agent sends it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

PG_ADMIN = os.environ.get("PES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TICK = os.sysconf("SC_CLK_TCK")


def say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


# -- process accounting -------------------------------------------------------------------
def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    name = f"pes_bench_scale_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def pg_backend_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend connected to this database (not this one)."""
    db = dsn.rsplit("/", 1)[1]
    con = await asyncpg.connect(PG_ADMIN)
    try:
        rows = await con.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db
        )
    finally:
        await con.close()
    return {r["pid"]: cpu_s(r["pid"]) for r in rows}


def status_payload(device: str) -> bytes:
    now = time.time_ns() // 1_000_000
    doc = {"v": 1, "device_id": device, "state": "online", "version": "0.1.0",
           "buffer_depth": 0, "oldest_age_s": None, "dropped": 0, "last_ack_ms": now,
           "sent_ms": now}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()
