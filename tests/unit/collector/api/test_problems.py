"""Every error answers in one shape, RFC 9457 problem details, whatever raised it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from collector.api import AppState, create_app
from collector.settings import load_settings
from collector.storage import open_store


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(None, storage={"url": f"sqlite:///{tmp_path}/c.db"},
                             api={"tokens": ["t0k"]})  # fmt: skip
    async with open_store(settings.storage.url) as store:
        app = create_app(AppState(settings, store))
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer t0k"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            yield c


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/pes", {"start": "not-a-date"}, 422),  # FastAPI's validation
        ("/v1/pes", {"weights": "1,1,1"}, 422),  # the collector's QueryError
        ("/v1/pes", {"group_by": "colour"}, 422),
        ("/v1/compare", {"a": "firmware_version:1"}, 422),  # a required parameter missing
        ("/v1/devices", {"limit": 0}, 422),
        ("/v1/nothing-here", {}, 404),
    ],
)
async def test_errors_are_problem_details(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int
) -> None:
    r = await client.get(path, params=params)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if "errors" in body:
        assert all(set(e) == {"loc", "msg"} for e in body["errors"])


async def test_a_missing_token_is_a_problem_too(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/pes", headers={"Authorization": ""})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"] == "missing or invalid API token"


async def test_validation_errors_name_the_parameter(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/pes", params={"start": "x"})).json()
    assert body["errors"][0]["loc"] == "query.start"
    assert body["detail"].startswith("query.start: ")
