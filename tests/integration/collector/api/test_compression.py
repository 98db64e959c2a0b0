"""Responses are gzip-compressed when the client asks for it and the body is worth it: the
dashboard's scripts and the analytics JSON, through the real app on a real SQLite store."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.kits.api import AUTH, api_client

STATIC = Path(__file__).resolve().parents[4] / "collector" / "web" / "static"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(tmp_path, AUTH) as c:
        yield c


async def raw_get(
    client: httpx.AsyncClient, path: str, encoding: str
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (httpx would otherwise decode it)."""
    async with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as r:
        return r, b"".join([chunk async for chunk in r.aiter_raw()])


async def test_static_script_is_compressed_when_asked(client: httpx.AsyncClient) -> None:
    want = (STATIC / "charts.js").read_bytes()
    r, body = await raw_get(client, "/static/charts.js", "gzip")
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert len(body) < len(want) / 2
    assert gzip.decompress(body) == want


async def test_plain_when_not_asked_or_small(client: httpx.AsyncClient) -> None:
    want = (STATIC / "charts.js").read_bytes()
    r, body = await raw_get(client, "/static/charts.js", "identity")
    assert "content-encoding" not in r.headers
    assert body == want
    small, _ = await raw_get(client, "/healthz", "gzip")
    assert small.status_code == 200
    assert "content-encoding" not in small.headers  # under the 1 KB threshold


async def test_json_answers_decode_to_the_same_document(client: httpx.AsyncClient) -> None:
    plain = await client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    packed, body = await raw_get(client, "/openapi.json", "gzip")
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain.content
