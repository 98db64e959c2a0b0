"""Outcomes on both backends (specs/outcomes.md): an import is all or nothing, a later import of
the same key replaces the outcome, importing the same file twice changes nothing."""

from __future__ import annotations

import time
from datetime import date

import pytest

from collector.errors import StoreError
from collector.reports import OutcomeLineError, import_outcomes
from collector.storage import Store
from tests.kits.releases import ev, import_unit

D1, D2 = date(2026, 6, 30), date(2026, 7, 1)
GOOD = [
    '{"account_id": "a-7", "outcome": "renewed", "date": "2026-06-30"}',
    '{"account_id": "a-8", "outcome": "churned", "date": "2026-06-30"}',
    '{"device_id": "d-1", "outcome": "expanded", "date": "2026-07-01"}',
]


async def test_put_and_read_back_by_entity(store: Store) -> None:
    assert await import_outcomes(store, GOOD) == 3
    assert await store.outcomes("account") == [
        ("account", "a-7", "renewed", D1),
        ("account", "a-8", "churned", D1),
    ]
    assert await store.outcomes("device") == [("device", "d-1", "expanded", D2)]


async def test_a_bad_line_after_good_ones_stores_nothing(store: Store) -> None:
    bad = '{"account_id": "a-9", "outcome": "renewed", "date": "2026-02-30"}'
    with pytest.raises(OutcomeLineError) as err:
        await import_outcomes(store, [*GOOD, "", bad])
    assert err.value.line == 5
    assert "date" in err.value.reason
    assert await store.outcomes("account") == []
    assert await store.outcomes("device") == []


async def test_a_failing_transaction_stores_nothing(store: Store) -> None:
    """All or nothing in the store itself: a row the table refuses undoes the rows before it."""
    await store.put_outcomes([("account", "a-1", "renewed", D1)])
    rows = [("account", "a-2", "renewed", D1), ("account", "a-3", "bogus", D1)]
    with pytest.raises(StoreError):
        await store.put_outcomes(rows)
    assert await store.outcomes("account") == [("account", "a-1", "renewed", D1)]


async def test_a_later_import_replaces_the_same_key(store: Store) -> None:
    await import_outcomes(store, GOOD)
    again = '{"account_id": "a-7", "outcome": "churned", "date": "2026-06-30"}'
    other_day = '{"account_id": "a-7", "outcome": "expanded", "date": "2026-07-01"}'
    assert await import_outcomes(store, [again, other_day]) == 2
    assert await store.outcomes("account") == [
        ("account", "a-7", "churned", D1),
        ("account", "a-8", "churned", D1),
        ("account", "a-7", "expanded", D2),
    ]


async def test_a_later_line_of_one_call_wins(store: Store) -> None:
    rows = [("account", "a-1", "renewed", D1), ("account", "a-1", "churned", D1)]
    assert await store.put_outcomes(rows) == 1
    assert await store.outcomes("account") == [("account", "a-1", "churned", D1)]


async def test_reimporting_is_idempotent(store: Store) -> None:
    await import_outcomes(store, GOOD)
    first = (await store.outcomes("account"), await store.outcomes("device"))
    await import_outcomes(store, GOOD)
    assert (await store.outcomes("account"), await store.outcomes("device")) == first


async def test_a_large_import_is_one_transaction(store: Store) -> None:
    """More rows than one PostgreSQL statement takes (50,000): all stored, and a refused row
    at the very end still undoes every chunk before it."""
    rows = [("account", f"a-{k}", "renewed", D1) for k in range(120_000)]
    with pytest.raises(StoreError):
        await store.put_outcomes([*rows, ("account", "z", "bogus", D1)])
    assert await store.outcomes("account") == []
    t0 = time.perf_counter()
    assert await store.put_outcomes(rows) == len(rows)
    elapsed = time.perf_counter() - t0
    assert len(await store.outcomes("account")) == len(rows)
    assert elapsed < 60, elapsed


async def test_entity_rollups_sum_the_segments(store: Store) -> None:
    """What the outcomes report reads: feature uses and sessions per entity and day (ordinal),
    summed over device type, firmware and labels, equal to the per-segment rollups summed."""
    a, b = (
        ev("d1", D1, "1.0", 0, "feature_use", "jog"),
        ev("d1", D1, "2.0", 1, "feature_use", "jog"),
    )
    c = ev("d2", D1, "1.0", 0, "feature_use", "jog", typ="lathe-9")  # same account "acct"
    d = ev("d2", D2, "1.0", 1, "session_end", typ="lathe-9")
    e = ev("d2", D2, "1.0", 2, "feature_use", "calibrate", typ="lathe-9")
    await store.write([import_unit([a, b, c, d, e])], 0)
    o1, o2 = D1.toordinal(), D2.toordinal()
    assert sorted(await store.entity_uses("account", D1, D2)) == [
        ("acct", o1, "jog", 3), ("acct", o2, "calibrate", 1)
    ]  # fmt: skip
    assert sorted(await store.entity_uses("device", D1, D1)) == [
        ("d1", o1, "jog", 2), ("d2", o1, "jog", 1)
    ]  # fmt: skip
    assert await store.entity_sessions("account", D1, D2) == [("acct", o2, 1, 0.0)]
    assert await store.entity_sessions("device", D1, D1) == []
    per_segment = await store.features("account", D1, D2)
    assert sum(r[6] for r in per_segment) == 4 and len(per_segment) == 4  # vs 2 rows above
