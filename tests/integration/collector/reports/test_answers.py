"""Polls between commits: the refresh reads nothing new and the PES table and trend come from
reports/answers.py, never a table older than the last commit before the request (the writer's
own, or another process's on the same SQLite file)."""

from __future__ import annotations

from typing import Any

import pytest

from collector.reports import tables
from collector.settings import PesSettings
from collector.storage import open_store
from tests.kits.analytics import Event, write_events
from tests.kits.probes import PROBE_QUERY as QUERY
from tests.kits.probes import SETTINGS, probe_event


def probe(n: int) -> Event:
    return probe_event(n, f"gw{n % 3}")


async def pes(store: Any, settings: PesSettings = SETTINGS) -> list[str]:
    return [r["firmware_version"] for r in await tables.pes_rows(store, settings, QUERY)]


async def trend(store: Any) -> list[str]:
    return [r["firmware_version"] for r in await tables.trend_rows(store, SETTINGS, QUERY, "week")]


class Computed:
    """Counts the analyses run off the event loop (a kept answer runs none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = tables.off_loop

        async def counted(compute: Any) -> Any:
            self.n += 1
            return await real(compute)

        monkeypatch.setattr(tables, "off_loop", counted)


async def test_polls_between_commits_reuse_the_table_and_see_every_commit(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed = Computed(monkeypatch)
    async with open_store(url) as store:
        await write_events(store, [probe(0)])
        assert await pes(store) == ["p000"]
        assert await trend(store) == ["p000"]
        first = await tables.current_snapshot(store)
        assert computed.n == 2
        for _ in range(3):  # no commit: the same snapshot, the same tables, nothing computed
            assert await tables.current_snapshot(store) is first
            assert await pes(store) == ["p000"]
            assert await trend(store) == ["p000"]
        assert computed.n == 2
        rows = await tables.pes_rows(store, SETTINGS, QUERY)
        rows.sort(key=lambda r: -r["active"])  # a caller sorting its list (/metrics does)
        rows.clear()
        assert await pes(store) == ["p000"]  # changes no later answer

        await write_events(store, [probe(1)])
        assert await pes(store) == ["p000", "p001"]
        assert await trend(store) == ["p000", "p001"]
        assert computed.n == 4
        other = PesSettings(low_sample_threshold=1)  # another settings object: its own table
        assert await pes(store, other) == ["p000", "p001"]
        assert computed.n == 5


async def test_a_commit_by_another_connection_is_seen(tmp_path: Any) -> None:
    """SQLite's skip (PRAGMA data_version) sees commits by any other connection, such as an
    ingest primary's on the same file, not only this store's writer."""
    url = f"sqlite:///{tmp_path}/c.db"
    async with open_store(url) as store, open_store(url) as primary:
        await write_events(store, [probe(0)])
        assert await pes(store) == ["p000"]
        assert await pes(store) == ["p000"]
        await write_events(primary, [probe(1)])
        assert await pes(store) == ["p000", "p001"]
        await write_events(primary, [probe(2)])
        await write_events(store, [probe(3)])
        assert await pes(store) == ["p000", "p001", "p002", "p003"]


async def test_no_scan_without_a_commit(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_store(f"sqlite:///{tmp_path}/c.db") as opened:
        store: Any = opened  # its _fetch, noted
        await write_events(store, [probe(0)])
        changes = await store.analytics_changes((-1, -1))
        assert len(changes.activity) == 1
        sql: list[str] = []
        fetch = store._fetch

        async def noted(text: str, params: Any, **kw: Any) -> Any:
            sql.append(text)
            return await fetch(text, params, **kw)

        monkeypatch.setattr(store, "_fetch", noted)
        again = await store.analytics_changes(changes.cursor)
        assert (len(again.activity), len(again.feature_bits), again.cursor) == (
            0, 0, changes.cursor,
        )  # fmt: skip
        assert sql == ["PRAGMA data_version"]
        # Another cursor than the one last answered (a state built anew): the tables are read
        assert len((await store.analytics_changes((-1, -1))).activity) == 1
