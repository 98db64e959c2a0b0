"""reports/releases.py on both backends: an empty store answers with no rows (not an error),
and a warm state picks up a later write that splits a run (refresh by version)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from collector.analytics.releases import ReleaseRow
from collector.reports.releases import make_release_query, release_rows, rollout_table
from collector.settings import PesSettings
from collector.storage import Store
from tests.kits.releases import ev, write_stream

D = date(2026, 3, 2)
SETTINGS = PesSettings()


async def test_empty_store_and_a_warm_refresh(store: Store) -> None:
    q = make_release_query(SETTINGS, start=D, end=D + timedelta(days=20), window=3,
                           as_of=D + timedelta(days=30))  # fmt: skip
    assert await release_rows(store, SETTINGS, q) == []
    assert await rollout_table(store, q) == {"days": [], "versions": []}
    days = [D + timedelta(days=k) for k in range(20)]
    events = [ev("a", d, "1.0", k, "session_start") for k, d in enumerate(days)]
    events += [ev("b", d, "1.0", k, "session_start") for k, d in enumerate(days)]
    await write_stream(store, events, [k + 1 for k in range(20)] * 2)
    assert await release_rows(store, SETTINGS, q) == []  # warm: runs and bits loaded
    # Its own event id (the same id twice is one event, stored once), inside a's 1.0 run.
    late = ev("a", days[10], "2.0", 100, "heartbeat", at_ms=10_500)
    await write_stream(store, [late], [21])
    rows = await release_rows(store, SETTINGS, q)
    assert {(r["from"], r["to"]) for r in rows} == {("1.0", "2.0"), ("2.0", "1.0")}
    assert all(r["confounded"] == 1 for r in rows)  # the two changes are on the same day
    versions = (await rollout_table(store, q))["versions"]
    assert [(v["firmware"], v["first_day"]) for v in versions] == [
        ("1.0", D.isoformat()), ("2.0", days[10].isoformat())
    ]  # fmt: skip


async def test_a_warm_answer_follows_a_count_only_change(store: Store) -> None:
    """A late feature_use on a day and feature already stored changes no day bit and no run,
    only a count: the kept Fleet, measurement and counts must still give way to it."""
    q = make_release_query(SETTINGS, start=D, end=D + timedelta(days=20), window=3,
                           as_of=D + timedelta(days=30))  # fmt: skip
    days = [D + timedelta(days=k) for k in range(12)]
    events = []
    for dev in ("a", "b", "c"):
        for k, d in enumerate(days):
            fw = "2.0" if dev == "a" and k >= 6 else "1.0"
            events += [ev(dev, d, fw, 2 * k, "session_start"),
                       ev(dev, d, fw, 2 * k + 1, "feature_use", "jog")]  # fmt: skip
    await write_stream(store, events, [k + 1 for k in range(24)] * 3)

    def uses(rows: list[ReleaseRow]) -> tuple[float | None, float | None]:
        (row,) = [r for r in rows if r["metric"] == "uses_per_day"]
        return row["post_mean"], row["control_change"]

    before = await release_rows(store, SETTINGS, q)
    assert before == await release_rows(store, SETTINGS, q)  # warm: kept, same answer
    assert uses(before) == (1.0, 0.0)
    late = [ev("a", days[8], "2.0", 100 + n, "feature_use", "jog", at_ms=1500 + n)
            for n in range(3)]  # fmt: skip
    late.append(ev("b", days[8], "1.0", 100, "feature_use", "jog", at_ms=1500))
    await write_stream(store, late, [25, 26, 27, 25])
    # a: post days 7-9 used 1 + 4 + 1 times; controls b (+1 use in post) and c (no change)
    assert uses(await release_rows(store, SETTINGS, q)) == pytest.approx((2.0, (1 / 3 + 0) / 2))
