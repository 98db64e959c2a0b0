"""Scoped API tokens against a real `pes-collector serve`, over every route of its OpenAPI
document: a read-only token gets 403 on every write route and the full answer on every read
route; an account-scoped token gets its accounts' data on the routes that filter by account and
403 everywhere else (docs/security.md); the existing full token is unchanged."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.api.auth import ACCOUNT_ROUTES
from devkit.broker import free_port
from tests.kits.pes import start_collector, stop, wait_http, write_collector_config

FULL, READER, DEALER, DEALER_RO = "test-token", "r" * 24, "d" * 24, "x" * 24
TOKENS = f"""
[[api.scoped_tokens]]
name = "reader"
token = "{READER}"
read_only = true
[[api.scoped_tokens]]
name = "dealer"
token = "{DEALER}"
accounts = ["acme", "initech"]
[[api.scoped_tokens]]
name = "dealer-ro"
token = "{DEALER_RO}"
read_only = true
accounts = ["globex"]
"""
# What a request needs beyond defaults: the example's days, and the required parameters.
BASE = {"start": "2026-03-08", "end": "2026-03-14"}
REQUIRED = {"a": "device_type:press-x", "b": "device_type:lathe-9", "id": "acme",
            "entity": "account"}  # fmt: skip
OUTCOME = b'{"account_id": "acme", "outcome": "renewed", "date": "2026-03-14"}\n'


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, specs_dir: Path) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("scoped")
    conf, http = write_collector_config(tmp, free_port(), extra="enabled = false")
    conf.write_text(conf.read_text() + TOKENS)
    subprocess.run(
        [sys.executable, "-m", "collector.cli", "import", "--config", str(conf),
         str(specs_dir / "pes-example-events.jsonl")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    proc = start_collector(conf, tmp / "collector.log")
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz", proc=proc)
        yield f"http://127.0.0.1:{http}"
    finally:
        assert stop(proc) == 0, (tmp / "collector.log").read_text()


def routes(base: str) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, params) of every /v1 operation, its required parameters filled in."""
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    out = []
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            names = {p["name"] for p in op.get("parameters", [])}
            params = {k: v for k, v in BASE.items() if k in names}
            params |= {p["name"]: REQUIRED[p["name"]] for p in op.get("parameters", [])
                       if p.get("required")}  # fmt: skip
            out.append((method.upper(), path, params))
    assert len(out) >= 15 and ("POST", "/v1/outcomes", {}) in out
    return out


def call(base: str, token: str, method: str, path: str, params: dict[str, Any]) -> httpx.Response:
    return httpx.request(
        method, f"{base}{path}", params=params, timeout=60,
        headers={"Authorization": f"Bearer {token}"},
        content=OUTCOME if method == "POST" else None,
    )  # fmt: skip


def test_read_only_token_reads_everything_and_writes_nothing(base: str) -> None:
    for method, path, params in routes(base):
        r = call(base, READER, method, path, params)
        if method in ("GET", "HEAD"):
            full = call(base, FULL, method, path, params)
            assert full.status_code == 200, (path, full.text)
            assert r.status_code == 200, (path, r.text)
        else:
            assert r.status_code == 403, (method, path, r.text)
            assert "read-only" in r.json()["detail"]
    # The same write with the full token still works: the scope, not the route, refused it.
    assert call(base, FULL, "POST", "/v1/outcomes", {}).status_code == 200


def test_account_token_sees_its_accounts_only_and_nothing_else(base: str) -> None:
    for token, mine, other in ((DEALER, "acme", "globex"), (DEALER_RO, "globex", "acme")):
        for method, path, params in routes(base):
            kind = ACCOUNT_ROUTES.get(path)
            if kind == "filter":
                assert call(base, token, method, path, params).status_code == 403, path
                own = call(base, token, method, path, {**params, "account_id": mine})
                assert own.status_code == 200, (path, own.text)
                same = call(base, FULL, method, path, {**params, "account_id": mine})
                assert own.json() == same.json(), path  # the filtered answer, nothing else
                for bad in ({"account_id": other}, {"account_id": [mine, other]}):
                    r = call(base, token, method, path, {**params, **bad})
                    assert r.status_code == 403, (path, bad, r.text)
            elif kind == "entity":
                ok = call(base, token, method, path, {**params, "entity": "account", "id": mine})
                assert ok.status_code == 200 and ok.json()["id"] == mine, ok.text
                for bad in ({"entity": "account", "id": other}, {"entity": "device", "id": "d1"},
                            {"id": mine}):  # fmt: skip
                    r = call(base, token, method, path, {**params, **bad})
                    assert r.status_code == 403, (path, bad, r.text)
            else:  # fleet-wide answers cannot be limited to an account
                r = call(base, token, method, path, params)
                assert r.status_code == 403, (method, path, r.text)


def test_account_filter_really_limits_the_rows(base: str) -> None:
    devices = call(base, FULL, "GET", "/v1/devices", {}).json()
    acme = {d["device_id"] for d in devices if d["account_id"] == "acme"}
    assert acme and acme != {d["device_id"] for d in devices}
    health = call(base, DEALER, "GET", "/v1/health", {**BASE, "account_id": "acme"}).json()
    assert health and {r["entity"] for r in health} <= acme
    accounts = call(base, DEALER, "GET", "/v1/health",
                    {**BASE, "entity": "account", "account_id": "acme"}).json()  # fmt: skip
    assert {r["entity"] for r in accounts} == {"acme"}


def test_bad_tokens_are_still_refused_with_401(base: str) -> None:
    for token in ("nope", READER[:-1], DEALER + "x"):
        r = call(base, token, "GET", "/v1/pes", BASE)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
