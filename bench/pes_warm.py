"""Warm PES table and trend next to their same-run baselines, for the growth suite.

The request path computes the PES table and the trend from per-segment state kept between
requests (collector/analytics/segments.py). Its baselines, measured on the same snapshot of the
same store: the previous path (per-member arrays: cube.members, period_stats, aggregate; kept
callable as reports.tables.pes_rows_previous / trend_rows_previous), whose rows (PES table and
trend) must be the same; and the request right after a small write, which must see it: 50 late
feature uses, stored with Store.write, on the period's last day by devices idle that day (so
DAU, stickiness and adoption change), each time before the request. Two more after-write
figures store writes that bring new combinations, as a live fleet does all the time: a few new
devices registering (`pes_after_new_devices`), and a firmware upgrade of a few existing devices
(`pes_after_upgrade`: a new firmware value, so a new segment too). Their baseline is the
previous path's request on the same snapshot after the same write: the refresh (which both
pay) plus pes_rows_previous, whose rows must be the same.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from bench.query import END, SETTINGS, TYPES
from collector.analytics.trend import periods
from collector.records import EventRow, ParsedMessage
from collector.reports import make_query, pes_rows, trend_rows
from collector.reports.tables import current_snapshot, pes_rows_previous, trend_rows_previous

DAY_MS = 86_400_000
LATE = 50
FRESH = 20  # devices registering, or devices upgraded, per write
UPGRADE_TO = "3.0"  # a firmware value the synthetic fleet does not have


def _ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


async def _late_uses(store: Any, round_: int) -> ParsedMessage:
    """One feature use on END by each of LATE devices idle on END (combinations they have)."""
    day, before = END.isoformat(), (END - timedelta(days=1)).isoformat()
    rows = await store._fetch(
        "SELECT device_id, account_id, device_type, firmware_version, labels FROM activity_day "
        "WHERE day = ? AND device_id NOT IN (SELECT device_id FROM activity_day WHERE day = ?) "
        "ORDER BY device_id LIMIT ?",
        (before, day, LATE),
    )  # a toy fleet (--smoke) may have fewer such devices than LATE, or none left
    ts = (END - date(1970, 1, 1)).days * DAY_MS + 1000
    events = [
        EventRow(dev, f"late-{round_}-{dev}", None, None, "feature_use", TYPES[t][0], None,
                 None, ts, ts, "ntp", day, t, fw, acct, labels, "{}")
        for dev, acct, t, fw, labels in rows
    ]  # fmt: skip
    return ParsedMessage(events=events)


def _use_on_end(dev: str, eid: str, t: str, fw: str, acct: str, labels: str) -> EventRow:
    ts = (END - date(1970, 1, 1)).days * DAY_MS + 1000
    return EventRow(dev, eid, None, None, "feature_use", TYPES[t][0], None, None, ts, ts, "ntp",
                    END.isoformat(), t, fw, acct, labels, "{}")  # fmt: skip


async def _new_devices(store: Any, round_: int) -> ParsedMessage:
    """A first feature use on END by each of FRESH devices the store has never seen."""
    types = list(TYPES)
    events = [
        _use_on_end(f"new-{round_}-{k}", f"new-{round_}-{k}", types[k % len(types)], "2.1",
                    f"acct-new-{round_}", '{"site":"north"}')
        for k in range(FRESH)
    ]  # fmt: skip
    return ParsedMessage(events=events)


async def _upgrades(store: Any, round_: int) -> ParsedMessage:
    """A feature use on END on firmware UPGRADE_TO by FRESH devices active the day before that
    are not on it yet: new (device, firmware) combinations of existing devices."""
    rows = await store._fetch(
        "SELECT device_id, account_id, device_type, firmware_version, labels FROM activity_day "
        "WHERE day = ? AND device_id NOT IN (SELECT device_id FROM activity_day "
        "WHERE firmware_version = ?) ORDER BY device_id LIMIT ?",
        ((END - timedelta(days=1)).isoformat(), UPGRADE_TO, FRESH),
    )
    events = [_use_on_end(dev, f"up-{round_}-{dev}", t, UPGRADE_TO, acct, labels)
              for dev, acct, t, _, labels in rows]  # fmt: skip
    return ParsedMessage(events=events)


async def _after(
    store: Any, pes_q: Any, make: Callable[[Any, int], Any], rounds: int = 3
) -> tuple[float, float]:
    """Median ms of the request after each of `rounds` writes made by `make`, and of the
    previous path's request on the same snapshot (the same refresh, then pes_rows_previous)."""
    params = pes_q.params(SETTINGS)
    new_ms, old_ms = [], []
    for k in range(rounds):
        msg = await make(store, k)
        await store.write([msg], 0)
        t0 = time.perf_counter()
        snapshot = await current_snapshot(store)  # the refresh, which both paths pay
        refresh = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        rows = await pes_rows(store, SETTINGS, pes_q)
        new_ms.append(refresh + (time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        old = pes_rows_previous(snapshot, pes_q, params)
        took = (time.perf_counter() - t0) * 1000
        old_ms.append(refresh + took)
        assert rows == old, "the previous path answers the same after new combinations"
    return statistics.median(new_ms), statistics.median(old_ms)


async def warm_figures(store: Any) -> dict[str, float]:
    """pes_previous, trend_previous (ms, same snapshot as a warm request), pes_after_write, and
    pes_after_new_devices / pes_after_upgrade with their previous-path baselines (*_previous)."""
    pes_q = make_query(SETTINGS, start=END - timedelta(days=29), end=END, group_by=None)
    trend_q = make_query(SETTINGS, start=END - timedelta(days=83), end=END, group_by=None)
    rows = await pes_rows(store, SETTINGS, pes_q)
    snapshot = await current_snapshot(store)
    params = pes_q.params(SETTINGS)
    runs = [_ms(lambda: pes_rows_previous(snapshot, pes_q, params)) for _ in range(3)]
    assert all(r[1] == rows for r in runs), "the previous path answers the same"
    spans, template = periods(trend_q.start, trend_q.end, "week"), trend_q.params(SETTINGS)
    trend_runs = [_ms(lambda: trend_rows_previous(snapshot, trend_q, spans, template))
                  for _ in range(2)]  # fmt: skip
    trend_now = await trend_rows(store, SETTINGS, trend_q, "week")
    assert all(r[1] == trend_now for r in trend_runs), "the previous path's trend is the same"
    after = []
    for k in range(3):
        late = await _late_uses(store, k)
        await store.write([late], 0)
        t0 = time.perf_counter()
        now = await pes_rows(store, SETTINGS, pes_q)
        after.append((time.perf_counter() - t0) * 1000)
        assert now != rows or not late.events, "the answer follows the late uses"
        rows = now
    fresh, fresh_old = await _after(store, pes_q, _new_devices)
    upgrade, upgrade_old = await _after(store, pes_q, _upgrades)
    return {
        "pes_previous": statistics.median(r[0] for r in runs),
        "trend_previous": statistics.median(r[0] for r in trend_runs),
        "pes_after_write": statistics.median(after),
        "pes_after_new_devices": fresh,
        "pes_after_new_devices_previous": fresh_old,
        "pes_after_upgrade": upgrade,
        "pes_after_upgrade_previous": upgrade_old,
    }
