"""The API's per-request dependencies run on the event loop. A plain `def` dependency runs in
FastAPI's thread pool: a hand-off to a worker thread and back on every request, which waits for
the GIL and for the event loop that `serve` shares with ingest (docs/performance.md, "e2e: the
tail under load")."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from collector.api import auth
from collector.reports import make_query
from tests.kits.api import AUTH, api_client


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
    async with api_client(tmp_path) as client:
        r = await client.get("/v1/pes", headers=AUTH)
        refused = await client.get("/v1/pes", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 200, r.text
    assert refused.status_code == 401  # still checked, on the loop
    loop = threading.get_ident()
    assert ran == [("token", loop), ("query", loop), ("token", loop)]
