"""`serve --role`: an ingest collector on the PostgreSQL primary and an API collector reading
through a role that cannot write (what a read replica is to it), with real processes, a real
Mosquitto and a real agent. docs/scaling.md "Splitting ingest and API"."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from devkit.broker import LocalBroker
from tests.kits.pes import (
    PG_ADMIN_DSN,
    PgDatabase,
    start_collector,
    stop,
    wait_http,
    write_collector_config,
)
from tests.kits.real_agent import agent_config, start_agent

AUTH = {"Authorization": "Bearer test-token"}


def _get(port: int, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", params=params, headers=AUTH, timeout=30)


def _admin(db: str, *sql: str) -> None:
    async def run() -> None:
        con = await asyncpg.connect(f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{db}")
        try:
            for statement in sql:
                await con.execute(statement)
        finally:
            await con.close()

    asyncio.run(run())


class _Database(PgDatabase):
    def __enter__(self) -> PgDatabase:
        return asyncio.run(self.__aenter__())

    def __exit__(self, *exc: object) -> None:
        asyncio.run(self.__aexit__())


@pytest.mark.timeout(240)
def test_ingest_and_api_roles_split_over_a_read_only_store(tmp_path: Path) -> None:
    reader = f"pes_ro_{secrets.token_hex(4)}"
    broker = LocalBroker()
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with _Database() as db:
            _admin(db.name, f"CREATE ROLE {reader} LOGIN")
            base = db.dsn.rsplit("//", 1)[1].split("@", 1)[1]  # host:port/name
            ro_dsn = f"postgresql://{reader}@{base}"
            conf_api, api = write_collector_config(
                tmp_path, broker.port, storage_url=ro_dsn, name="api"
            )
            # An API replica never creates the schema: on an empty database it says why.
            res = subprocess.run(
                [sys.executable, "-m", "collector.cli", "serve", "--role", "api", "--config",
                 str(conf_api)], capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert res.returncode == 2, res.stderr
            assert "no collector schema" in res.stderr

            conf_in, ing = write_collector_config(
                tmp_path, broker.port, storage_url=db.dsn, name="ingest"
            )
            procs.append(start_collector(conf_in, tmp_path / "ingest.log", "--role", "ingest"))
            wait_http(f"http://127.0.0.1:{ing}/readyz", timeout=60, proc=procs[-1])
            _admin(
                db.name,
                f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}",
                f"ALTER ROLE {reader} SET default_transaction_read_only = on",
            )
            procs.append(start_collector(conf_api, tmp_path / "api.log", "--role", "api"))
            wait_http(f"http://127.0.0.1:{api}/readyz", timeout=60, proc=procs[-1])  # state warm
            ready = _get(api, "/readyz")
            assert ready.status_code == 200 and ready.json()["broker"] == "not used"
            assert ready.json()["analytics"] == "ok"

            # A real agent publishes through the broker; the ingest collector stores.
            conf_agent = agent_config(tmp_path, broker.port, "gw-role-1")
            for feature in ("calibrate", "export"):
                emitted = subprocess.run(
                    [sys.executable, "-m", "agent.cli", "emit", "--config", str(conf_agent),
                     "--kind", "feature_use", "--feature", feature],
                    capture_output=True, timeout=60,
                )  # fmt: skip
                assert emitted.returncode == 0, emitted.stderr
            procs.append(start_agent(conf_agent, tmp_path / "agent.log"))

            # ... and the API collector, which cannot write, answers from what was stored.
            def pes_active() -> int:
                rows = _get(api, "/v1/pes", group_by="").json()
                return int(rows[0]["active"]) if rows else 0

            deadline = time.monotonic() + 60
            while pes_active() != 1:  # the agent's batch: broker -> ingest -> primary -> API
                assert time.monotonic() < deadline, "the API role never saw the agent's events"
                time.sleep(0.2)
            assert _get(api, "/v1/retention").status_code == 200
            assert _get(api, "/v1/outcomes/report").status_code == 200
            line = b'{"account_id": "acme", "outcome": "renewed", "date": "2026-06-30"}\n'
            post = httpx.post(f"http://127.0.0.1:{api}/v1/outcomes", content=line,
                              headers=AUTH, timeout=30)  # fmt: skip
            assert post.status_code in (404, 405)  # no write route on a read-only role

            # The ingest collector holds no analytics: no read routes, but writes and ops.
            assert _get(ing, "/v1/pes").status_code == 404
            assert _get(ing, "/v1/outcomes/report").status_code == 404
            assert _get(ing, "/").status_code == 404  # no dashboard either
            post = httpx.post(f"http://127.0.0.1:{ing}/v1/outcomes", content=line,
                              headers=AUTH, timeout=30)  # fmt: skip
            assert post.status_code == 200 and post.json() == {"stored": 1}
            metrics = _get(ing, "/metrics").text
            assert "pes_ingest" in metrics or "pes_collector" in metrics
            assert _get(ing, "/v1/stats").json()["ingest"]["stored"] >= 2
            for p in procs:
                assert p.poll() is None, "a collector or the agent died"
            for p in reversed(procs):
                stop(p)
    finally:
        for p in procs:
            stop(p)
        broker.stop()
        broker.cleanup()
        _admin("postgres", f"DROP ROLE IF EXISTS {reader}")  # after its database is gone
