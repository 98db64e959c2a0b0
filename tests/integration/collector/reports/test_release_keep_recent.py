"""The reports asked most recently survive a restart (reports/releases.py `_KEEP_MEASURED`,
release_keep.py): the release file keeps the measurements of the reports asked last, an answer
renewing a report's place (answers from the file after a restart too), so a restart answers
each of them from the file, as a build would, and measures only the others."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from collector.analytics.releases import measure_key
from collector.reports import release_file, releases
from collector.reports.releases import ReleaseQuery, load_fleet, make_release_query, release_rows
from collector.storage import open_store
from tests.integration.collector.reports.test_release_keep import (
    LOG,
    first_process,
    messages,
    path_of,
    process,
    query,
)
from tests.kits.releases import AS_OF, END, SETTINGS, START, TODAY, W


def window(w: int) -> ReleaseQuery:
    return make_release_query(SETTINGS, start=START, end=END, window=w, as_of=AS_OF, today=TODAY)


def keys(*qs: ReleaseQuery) -> list[tuple[object, ...]]:
    return [measure_key(q.params(SETTINGS)) for q in qs]


def kept_in_file(url: str, tmp_path: Path) -> list[tuple[object, ...]]:
    _, quick = release_file.read_quick(path_of(url, tmp_path))
    return [measure_key(m.params) for m in quick.measured if m.params is not None]


async def test_a_restart_answers_the_reports_asked_most_recently(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    await first_process(url, tmp_path, 9)  # its file: the default report's and query()'s
    n = releases._KEEP_MEASURED
    usual, others = query(), [window(W + 1 + k) for k in range(n)]
    async with process(url, tmp_path) as store:
        for q in (usual, *others[: n - 1], usual, others[n - 1]):
            await release_rows(store, SETTINGS, q)
    # n kept: the default report and others[0] pushed out; usual, asked again, kept.
    assert kept_in_file(url, tmp_path) == keys(*others[1 : n - 1], usual, others[n - 1])
    caplog.clear()
    async with process(url, tmp_path) as store:
        for q in (others[1], usual):  # the least recently asked of the file's, then usual
            rows = await release_rows(store, SETTINGS, q)
            assert store not in releases._FLEETS  # from the file's measurements alone
            async with open_store(url) as fresh:
                assert rows == await release_rows(fresh, SETTINGS, q)
        assert any("release measurements read from" in m for m in messages(caplog))
        rows = await release_rows(store, SETTINGS, others[0])  # not kept: the Fleet, measured
        assert any("release Fleet read from" in m for m in messages(caplog)), messages(caplog)
        async with open_store(url) as fresh:
            assert rows == await release_rows(fresh, SETTINGS, others[0])
        lo, hi = START.toordinal() - W, END.toordinal() + W
        kept = await load_fleet(store, lo, hi)
        # others[1], answered from the file here, counts as asked: others[2] went instead.
        assert kept.updates == 0 and list(kept.measured) == keys(
            *others[3 : n - 1], others[n - 1], others[1], usual, others[0]
        )
    assert kept_in_file(url, tmp_path) == list(kept.measured)  # written at shutdown
    assert not any("refused" in m for m in messages(caplog))
