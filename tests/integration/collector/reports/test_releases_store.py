"""reports/releases.py on both backends: an empty store answers with no rows (not an error),
and a warm state picks up a later write that splits a run (refresh by version)."""

from __future__ import annotations

from datetime import date, timedelta

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
