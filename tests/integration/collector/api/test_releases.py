"""Release impact through the real surfaces on both backends: a small fleet stored through
`Store.write` (stream batches, late chunks first), then `pes-collector serve` answering
GET /v1/releases (JSON and CSV) and GET /v1/rollout, and `pes-collector releases`, all compared
with the brute-force oracle (tests/oracles/releases_reference.py); bad parameters give 422 / a
one-line error with exit status 2, never a 5xx."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from collector.reports.releases import ROW_KEYS
from collector.storage import open_store
from tests.kits.pes import (
    PgDatabase,
    api_get,
    start_collector,
    stop,
    wait_http,
    write_collector_config,
)
from tests.kits.releases import Ev, assert_matches_oracle, small_fleet, write_stream
from tests.oracles.releases_reference import reference_rollout, reference_rows

D = date(2026, 3, 2)
DAYS = 40
START, END, AS_OF, W = D + timedelta(days=5), D + timedelta(days=34), D + timedelta(days=39), 5
PARAMS: dict[str, str | int] = {
    "start": START.isoformat(), "end": END.isoformat(), "as_of": AS_OF.isoformat(), "window": W,
}  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/collector.db"
    else:
        async with PgDatabase() as db:
            yield db.dsn


async def _store_fleet(url: str, events: list[Ev]) -> None:
    """Newest chunk first, so most events arrive late; every device its own stream."""
    seq: dict[int, int] = {}
    counters: dict[str, int] = {}
    for e in events:
        counters[e["device"]] = seq[id(e)] = counters.get(e["device"], 0) + 1
    chunks = [events[k : k + 150] for k in range(0, len(events), 150)][::-1]
    async with open_store(url) as store:
        for chunk in chunks:
            await write_stream(store, chunk, [seq[id(e)] for e in chunk])


def _cli(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "releases", "--config", str(conf), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip


async def test_releases_api_and_cli_match_the_oracle(tmp_path: Path, storage_url: str) -> None:
    events = small_fleet(random.Random(3), D, DAYS, devices=14)
    await _store_fleet(storage_url, events)
    conf, port = write_collector_config(
        tmp_path, 1, storage_url=storage_url, extra="enabled = false"
    )
    want = reference_rows(events, START, END, AS_OF, W, {})
    assert any(w["measurable"] for w in want)
    proc = start_collector(conf, tmp_path / "collector.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/healthz", 60, proc)
        rows = await asyncio.to_thread(api_get, port, "/v1/releases", **PARAMS)
        assert all(list(r) == list(ROW_KEYS) for r in rows)
        assert_matches_oracle(rows, want)
        # a warm second request (runs and bits refreshed by version) gives the same rows
        assert await asyncio.to_thread(api_get, port, "/v1/releases", **PARAMS) == rows
        one = await asyncio.to_thread(
            api_get, port, "/v1/releases", **PARAMS, device_type="lathe-9", metric="breadth"
        )
        assert {(r["device_type"], r["metric"]) for r in one} <= {("lathe-9", "breadth")}
        assert [r["did"] for r in one] == [
            r["did"] for r in rows if (r["device_type"], r["metric"]) == ("lathe-9", "breadth")
        ]
        got_rollout = await asyncio.to_thread(
            api_get, port, "/v1/rollout", start=START.isoformat(), end=END.isoformat()
        )
        assert got_rollout == reference_rollout(events, START, END)
        headers = {"Authorization": "Bearer test-token"}
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            r = await client.get("/v1/releases", params={**PARAMS, "format": "csv"})
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            table = list(csv.reader(io.StringIO(r.text)))
            assert table[0] == list(ROW_KEYS) and len(table) == len(rows) + 1
            for bad in ({"window": 0}, {"window": 61}, {"start": "yesterday"},
                        {"start": "0001-01-01"}, {"end": "9999-12-31"}, {"metric": "pes"},
                        {"device_type": "x" * 65}, {"start": "2026-05-01", "end": "2026-04-01"},
                        {"format": "xml"}):  # fmt: skip
                r = await client.get("/v1/releases", params={**PARAMS, **bad})
                assert r.status_code == 422, (bad, r.status_code, r.text)
            r = await client.get("/v1/rollout", params={"start": "0001-01-01"})
            assert r.status_code == 422
            assert (
                await client.get("/v1/releases", headers={"Authorization": ""})
            ).status_code == 401
        out = await asyncio.to_thread(
            _cli, conf, "--start", START.isoformat(), "--end", END.isoformat(),
            "--as-of", AS_OF.isoformat(), "--window", str(W), "--format", "json",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == rows
        for bad_args in (["--window", "0"], ["--window", "two"], ["--start", "2026-13-01"],
                         ["--metric", "pes"], ["--format", "xml"]):  # fmt: skip
            res = await asyncio.to_thread(_cli, conf, *bad_args)
            assert res.returncode == 2, (bad_args, res.stderr)
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    finally:
        stop(proc)
