"""The API in process: the real app on a fresh SQLite store, through httpx's ASGI transport (no
server, no port). Patch what a test observes before entering it: the app is made inside."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx

from collector.api import AppState, create_app
from collector.settings import load_settings
from collector.storage import open_store

TOKEN = "t0k"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def api_client(
    tmp_path: Path, headers: Mapping[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose one API token is TOKEN; `headers` go with every request."""
    conf = tmp_path / "collector.toml"
    conf.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n[api]\ntokens = ["{TOKEN}"]\n')
    settings = load_settings(conf)
    async with open_store(settings.storage.url) as store:
        app = create_app(AppState(settings, store))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            yield client
