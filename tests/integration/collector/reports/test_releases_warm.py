"""The release warm-up (reports/warm.py, reports/releases.py `warm_up_releases`) on both
backends: a report of fewer days inside the warm-up's 90 is answered from the warm-up's Fleet,
and its rows equal, interval for interval, those of a fresh process that builds a Fleet of just
its days, and the reference; also after new rows arrive (new days, a new device with an upgrade,
late uses on days already stored: a count-only change), which update the warm-up's Fleet."""

from __future__ import annotations

import random
from datetime import timedelta

from collector.analytics.releases import ReleaseRow
from collector.reports import warm_up
from collector.reports.releases import (
    ReleaseQuery,
    load_fleet,
    make_release_query,
    release_rows,
    rollout_table,
)
from collector.storage import Store, open_store
from tests.kits.releases import (
    AS_OF,
    DAYS,
    END,
    SETTINGS,
    START,
    TODAY,
    D,
    Ev,
    W,
    Writer,
    assert_matches_oracle,
    ev,
    small_fleet,
)
from tests.oracles.releases_reference import reference_rows


def query() -> ReleaseQuery:
    return make_release_query(SETTINGS, start=START, end=END, window=W, as_of=AS_OF, today=TODAY)


async def fresh_rows(url: str) -> tuple[list[ReleaseRow], object]:
    """What a process without any kept state answers: its own Fleet of the query's days."""
    async with open_store(url) as store:
        q = query()
        return await release_rows(store, SETTINGS, q), await rollout_table(store, q)


async def check(store: Store, url: str, events: list[Ev], *, updates: int) -> None:
    q = query()
    kept = await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)
    # The warm-up's Fleet (90 days and its window), after each write updated, not rebuilt.
    assert kept.fleet.day0 <= (TODAY - timedelta(days=89 + 14)).toordinal()
    assert kept.updates == updates
    got = await release_rows(store, SETTINGS, q)
    want, want_rollout = await fresh_rows(url)
    assert got == want  # the same rows, intervals included
    assert await rollout_table(store, q) == want_rollout
    assert_matches_oracle(got, reference_rows(events, START, END, AS_OF, W, SETTINGS.core_features))
    assert any(r["measurable"] for r in got)


async def test_warm_up_fleet_answers_a_shorter_report_as_a_fresh_build(url: str) -> None:
    events = small_fleet(random.Random(11), D, DAYS, devices=16)
    first = [e for e in events if e["day"] < D + timedelta(days=28)]
    w = Writer()
    async with open_store(url) as store:
        await w.write(store, first)
        await warm_up(store, SETTINGS, today=TODAY)
        await check(store, url, w.events, updates=0)

        # New rows: the remaining days, a new device that upgrades inside the report, and late
        # feature uses on days and features already stored (only counts change).
        later = [e for e in events if e["day"] >= D + timedelta(days=28)]
        new = [ev("zz", D + timedelta(days=d), "1.0" if d < 18 else "2.0", d, "session_start")
               for d in range(10, 26)]  # fmt: skip
        new += [ev("zz", D + timedelta(days=d), "2.0", 100 + d, "feature_use", "jog")
                for d in range(18, 26)]  # fmt: skip
        used = [e for e in first if e["kind"] == "feature_use" and e["day"] >= START][:6]
        late = [
            ev(e["device"], e["day"], e["fw"], 900 + k, "feature_use", e["feature"], e["type"],
               at_ms=e["ts"] % 86_400_000 + 1)
            for k, e in enumerate(used)
        ]  # fmt: skip
        await w.write(store, later + new + late)
        await check(store, url, w.events, updates=1)

        # Only late uses again: no new device, so the kept device codes are reused.
        again = [
            ev(e["device"], e["day"], e["fw"], 950 + k, "feature_use", e["feature"], e["type"],
               at_ms=e["ts"] % 86_400_000 + 2)
            for k, e in enumerate(used[:3])
        ]  # fmt: skip
        await w.write(store, again)
        await check(store, url, w.events, updates=2)
        # The default report itself after the writes: the updated Fleet, as a fresh build.
        d = make_release_query(SETTINGS, today=TODAY)
        async with open_store(url) as fresh:
            want = await release_rows(fresh, SETTINGS, d)
        assert await release_rows(store, SETTINGS, d) == want
