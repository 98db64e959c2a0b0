"""/readyz and the start-up warm-up of the analytics state: an API replica (role api) is not
ready while its state is being built; a process that also ingests is (acks must not wait)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from collector.api import AppState, create_app
from collector.settings import Role, load_settings
from collector.storage import Store, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Path, Store]]:
    conf = tmp_path / "collector.toml"
    # ingest off: role all is then ready without a broker, and readiness shows only the warm-up
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n[api]\ntokens = ["t"]\n'
        "[ingest]\nenabled = false\n"
    )
    async with open_store(f"sqlite:///{tmp_path}/c.db") as s:
        yield conf, s


async def readyz(
    conf: Path, store: Store, role: Role, warming: asyncio.Task[None] | None
) -> tuple[int, str]:
    app = create_app(AppState(load_settings(conf), store, None, role, warming))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    return r.status_code, r.json()["analytics"]


async def test_api_replica_waits_for_its_warm_up(store: tuple[Path, Store]) -> None:
    conf, s = store
    release = asyncio.Event()

    async def build() -> None:
        await release.wait()

    warming = asyncio.create_task(build())
    assert await readyz(conf, s, "api", warming) == (503, "warming")
    assert await readyz(conf, s, "all", warming) == (200, "warming")
    release.set()
    await warming
    assert await readyz(conf, s, "api", warming) == (200, "ok")


async def test_a_failed_warm_up_does_not_hold_readiness(store: tuple[Path, Store]) -> None:
    conf, s = store

    async def fail() -> None:
        raise OSError("store down")

    warming = asyncio.create_task(fail())
    await asyncio.gather(warming, return_exceptions=True)
    status, analytics = await readyz(conf, s, "api", warming)
    assert status == 200 and analytics.startswith("cold")
    assert await readyz(conf, s, "api", None) == (200, "ok")  # nothing to warm (tests, import)
    assert await readyz(conf, s, "ingest", None) == (200, "not used")
