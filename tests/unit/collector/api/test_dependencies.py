"""The API's per-request dependencies run on the event loop. A plain `def` dependency runs in
FastAPI's thread pool: a hand-off to a worker thread and back on every request, which waits for
the GIL and for the event loop that `serve` shares with ingest (docs/performance.md, "e2e: the
tail under load")."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.api import AppState, auth, create_app
from collector.reports import make_query
from collector.settings import load_settings
from collector.storage import open_store


async def test_the_token_check_and_the_query_parameters_run_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[str, int]] = []
    authenticate = auth.TokenGuard._authenticate

    def noted_query(*args: Any, **kwargs: Any) -> Any:
        ran.append(("query", threading.get_ident()))
        return make_query(*args, **kwargs)

    def noted_token(guard: auth.TokenGuard, request: Any) -> auth.Grant:
        ran.append(("token", threading.get_ident()))
        return authenticate(guard, request)

    monkeypatch.setattr("collector.api.routes.analytics.make_query", noted_query)
    monkeypatch.setattr(auth.TokenGuard, "_authenticate", noted_token)
    conf = tmp_path / "c.toml"
    conf.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n[api]\ntokens = ["t0k"]\n')
    settings = load_settings(conf)
    async with open_store(settings.storage.url) as store:
        app = create_app(AppState(settings, store))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/v1/pes", headers={"Authorization": "Bearer t0k"})
            refused = await client.get("/v1/pes", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 200, r.text
    assert refused.status_code == 401  # still checked, on the loop
    loop = threading.get_ident()
    assert ran == [("token", loop), ("query", loop), ("token", loop)]
