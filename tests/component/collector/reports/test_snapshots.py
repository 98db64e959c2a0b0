"""Every analytics request (collector.analytics_queries, behind /v1/pes, /v1/compare, /v1/trend,
/v1/overview, /v1/health, /v1/entity and /v1/funnel) while the state is refreshed under it.

A fake store serves the analytics tables one version at a time. The injected interleaving: the
moment a request hands its analysis to the worker thread, the store moves to the next version
(new combinations, their feature rows before their activity rows) and another request refreshes the
shared state. The first request must still answer exactly as it would have at its own version."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any, TypeVar, cast

import pytest

from collector.analytics.compare import parse_config
from collector.errors import QueryError
from collector.reports import tables as aq
from collector.reports.query import make_query
from collector.settings import PesSettings
from collector.storage.base import Store
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow
from tests.kits.analytics import merged, random_fleet, torn_refreshes

T = TypeVar("T")
SETTINGS = PesSettings(core_features={"press-x": ["calibrate", "export"]})  # lathe-9: its fleet's
START, END = date(2026, 2, 1), date(2026, 2, 21)
Refresh = tuple[list[ComboRow], list[FeatureNameRow], Changes]


class VersionedStore:
    """The analytics tables at one version (an index into `refreshes`), read with a cursor:
    the rows of the refreshes after it, up to the version. Only the reads the analytics
    requests make: passed where a Store is expected with cast()."""

    def __init__(self, refreshes: Sequence[Refresh], version: int) -> None:
        self.refreshes, self.version = refreshes, version
        self.names = {c[0]: c for c in refreshes[-1][0]}
        self.feature_names = dict(refreshes[-1][1])

    async def analytics_changes(self, cursor: Cursor) -> Changes:
        if cursor[0] == self.version:
            return Changes([], [], cursor)
        return merged([c for _, _, c in self.refreshes[cursor[0] + 1 : self.version + 1]])

    async def analytics_names(
        self, combos: Sequence[int], features: Sequence[int]
    ) -> tuple[list[ComboRow], list[FeatureNameRow]]:
        return [self.names[c] for c in combos], [(f, self.feature_names[f]) for f in features]

    async def features(self, *args: Any) -> list[Any]:
        return []

    async def sessions(self, *args: Any) -> list[Any]:
        return []


def requests() -> dict[str, Callable[[Any], Awaitable[Any]]]:
    by_fw = make_query(SETTINGS, start=START, end=END, group_by="firmware_version",
                       filters={"device_type": "press-x"})  # fmt: skip
    whole = make_query(SETTINGS, start=START, end=END, group_by="", entity="account")
    configs = [parse_config("a", "firmware_version:1.0"), parse_config("b", "firmware_version:1.1")]
    # The funnel counts entities first active in its period: over the whole history, so that new
    # devices arrive with each version (over START..END nearly every answer was empty).
    onboarding = make_query(SETTINGS, start=date(2026, 1, 1), end=date(2026, 2, 28),
                            group_by="firmware_version")  # fmt: skip
    return {
        "pes": lambda s: aq.pes_rows(s, SETTINGS, by_fw),
        "compare": lambda s: aq.compare_rows(
            s, SETTINGS, whole, configs, baseline="a", resamples=200, seed=1
        ),
        "trend": lambda s: aq.trend_rows(s, SETTINGS, by_fw, "week"),
        "overview": lambda s: aq.overview_tables(s, SETTINGS, whole, "week"),
        "health": lambda s: aq.health_rows(s, SETTINGS, whole),  # also /v1/entity's
        "funnel": lambda s: aq.funnel_rows(s, SETTINGS, onboarding, 7, END),
    }


async def outcome(request: Awaitable[Any]) -> Any:
    try:
        return await request
    except QueryError as exc:  # e.g. a configuration with no entity yet: the same either way
        return f"QueryError: {exc}"


@pytest.mark.parametrize("seed", range(3))
async def test_requests_answer_for_their_own_version(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshes = torn_refreshes(random_fleet(random.Random(seed), devices=12), 4)
    real_off_loop = aq.off_loop
    for name, request in requests().items():
        for version in range(len(refreshes) - 1):
            want = await outcome(request(VersionedStore(refreshes, version)))
            store = VersionedStore(refreshes, version)
            await aq.current_snapshot(cast(Store, store))  # warm, as a serving collector is

            async def refreshed_meanwhile(
                compute: Callable[[], T], store: VersionedStore = store
            ) -> T:
                store.version += 1
                await aq.current_snapshot(cast(Store, store))
                return await real_off_loop(compute)

            with monkeypatch.context() as m:
                m.setattr(aq, "off_loop", refreshed_meanwhile)
                got = await outcome(request(store))
            assert got == want, f"{name} at version {version}"
            # ...and the next request sees the new version.
            later = await outcome(request(VersionedStore(refreshes, version + 1)))
            assert await outcome(request(store)) == later, f"{name} after version {version}"


@pytest.mark.parametrize("seed", range(3))
async def test_the_cases_are_not_trivial(seed: int) -> None:
    """The interleaving test above proves little where every version answers the same, or
    nothing: each request must answer something at most versions, and change between some."""
    refreshes = torn_refreshes(random_fleet(random.Random(seed), devices=12), 4)
    for name, request in requests().items():
        answers = [
            await outcome(request(VersionedStore(refreshes, v))) for v in range(len(refreshes))
        ]
        substantial = [a for a in answers if a and not isinstance(a, str)]
        assert len(substantial) >= len(answers) // 2, f"{name}: mostly empty or errors"
        changes = sum(a != b for a, b in itertools.pairwise(answers))
        assert changes >= 2, f"{name}: the versions barely differ"


async def test_concurrent_requests_and_refreshes_do_not_fail() -> None:
    """Many requests at once over a store that changes version between them: none fails and
    each answer is one of the versions' answers (what the e2e bench's poller relies on)."""
    refreshes = torn_refreshes(random_fleet(random.Random(11), devices=12), 6)
    pes = requests()["pes"]
    answers = [await pes(VersionedStore(refreshes, v)) for v in range(len(refreshes))]
    store = VersionedStore(refreshes, 0)

    async def advance() -> None:
        for v in range(1, len(refreshes)):
            await asyncio.sleep(0)
            store.version = v

    results = await asyncio.gather(advance(), *(pes(store) for _ in range(40)))
    assert all(r in answers for r in results[1:])
