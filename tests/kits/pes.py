"""Helpers for tests that run the real programs as OS processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from collector.settings import StorageSettings
from devkit.broker import free_port

REPO = Path(__file__).resolve().parents[2]


def find_specs() -> Path:
    """The contract's folder: $PES_SPECS_DIR, else ../shared/specs beside the clone, else the
    vendored copy in specs/ (kept identical by tests/unit/test_specs_copy.py)."""
    env = os.environ.get("PES_SPECS_DIR")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "specs", REPO / "specs"]
    for c in candidates:
        if (c / "pes-example-events.jsonl").is_file():
            return c
    raise FileNotFoundError(f"PES specs not found in {[str(c) for c in candidates]}")


def write_collector_config(
    dir: Path,
    mqtt_port: int,
    *,
    http_port: int | None = None,
    extra: str = "",
    storage_url: str | None = None,
    name: str = "collector",
) -> tuple[Path, int]:
    http_port = http_port or free_port()
    conf = dir / f"{name}.toml"
    url = storage_url or f"sqlite:///{dir}/collector.db"
    conf.write_text(
        f'[storage]\nurl = "{url}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nreconnect_max_s = 1.0\n'
        f'[api]\nhost = "127.0.0.1"\nport = {http_port}\ntokens = ["test-token"]\n'
        f'[ingest]\nclient_id = "collector-{http_port}"\n{extra}\n'
    )
    return conf, http_port


def start_collector(conf: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`pes-collector serve --config conf`, more arguments after it (e.g. --role api)."""
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--config", str(conf), *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_http(url: str, timeout: float = 20, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def api_get(port: int, path: str, **params: Any) -> Any:
    r = httpx.get(
        f"http://127.0.0.1:{port}{path}",
        params=params,
        headers={"Authorization": "Bearer test-token"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


PG_ADMIN_DSN = os.environ.get("PES_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class PgDatabase:
    """A throwaway PostgreSQL database: created on enter, dropped on exit."""

    def __init__(self) -> None:
        import secrets

        self.name = f"pes_test_{secrets.token_hex(6)}"
        base = PG_ADMIN_DSN.rsplit("/", 1)[0]
        self.dsn = f"{base}/{self.name}"

    async def __aenter__(self) -> PgDatabase:
        import asyncpg

        con = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await con.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await con.close()
        return self

    async def __aexit__(self, *exc: object) -> None:
        import asyncpg

        con = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await con.close()


def kept_storage(url: str, tmp_path: Path) -> StorageSettings:
    """Storage settings whose kept analytics (and release) files land in `tmp_path`: PostgreSQL
    needs a directory; SQLite keeps the files next to the store."""
    where = None if url.startswith("sqlite:") else str(tmp_path / "snapshots")
    return StorageSettings(url=url, analytics_snapshot_dir=where)
