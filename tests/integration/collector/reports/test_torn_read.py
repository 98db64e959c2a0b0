"""The e2e bench's HTTP 500 on a real SQLite store: a write commits between the two statements of
SqliteStore.analytics_changes (activity_bits, then feature_bits), so a refresh brings a new
combination's feature row without its activity row. The next GET /v1/pes-style request with a
filter must answer, without the new firmware until its activity is read, then with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from collector.reports.tables import pes_rows
from collector.storage import open_store
from tests.kits.analytics import write_events
from tests.kits.probes import PROBE_QUERY as QUERY
from tests.kits.probes import SETTINGS, probe_event


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_store(f"sqlite:///{tmp_path}/c.db") as store:
        yield store


async def firmwares(store: Any) -> list[str]:
    return [r["firmware_version"] for r in await pes_rows(store, SETTINGS, QUERY)]


async def test_write_between_the_two_reads_of_a_refresh(
    sqlite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await write_events(sqlite, [probe_event(0)])
    assert await firmwares(sqlite) == ["p000"]  # the state is warm
    # A commit since that refresh: the next one reads both tables (with none it reads neither)
    await write_events(sqlite, [probe_event(1)])
    pending = [[probe_event(2)]]
    fetch = sqlite._fetch

    async def torn(sql: str, params: Any, **kw: Any) -> Any:
        rows = await fetch(sql, params, **kw)
        if "FROM activity_bits WHERE version" in sql and pending:
            await write_events(sqlite, pending.pop())  # commits before feature_bits is read
        return rows

    monkeypatch.setattr(sqlite, "_fetch", torn)
    assert await firmwares(sqlite) == ["p000", "p001"]  # p002: a feature row, no activity yet
    assert not pending
    assert await firmwares(sqlite) == ["p000", "p001", "p002"]
