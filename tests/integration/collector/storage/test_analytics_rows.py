"""The analytics on both backends: the same random fleet written through store.write (late
events and redeliveries in later transactions) into SQLite and PostgreSQL gives the reference's
rows, and a warm in-memory state picks up every later write, including concurrent ones."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from typing import Any

import pytest

from collector.reports.query import make_query
from collector.reports.tables import health_rows, pes_rows
from collector.settings import PesSettings
from tests.kits.analytics import (
    Event,
    random_fleet,
    reference_health,
    reference_pes,
    write_events,
)

SETTINGS = PesSettings(core_features={"press-x": ["calibrate", "export"], "*": ["jog"]})
START, END = date(2026, 2, 1), date(2026, 2, 21)


async def check(store: Any, events: list[Event]) -> None:
    q = make_query(SETTINGS, start=START, end=END, group_by="device_type,label:site")
    params = q.params(SETTINGS)
    rows = await pes_rows(store, SETTINGS, q)
    want = reference_pes(events, ["device_type", "label:site"], "device", params)
    assert [(r["device_type"], r["label:site"]) for r in rows] == [w.segment for w in want]
    for r, w in zip(rows, want, strict=True):
        assert (r["active"], r["new"], r["recovered"], r["dropped"]) == (
            w.active,
            w.new,
            w.recovered,
            w.dropped,
        )
        for f in ("adoption", "stickiness", "pes"):
            g, x = r[f], getattr(w, f)
            assert g == (None if x is None else pytest.approx(x, abs=1e-9))
    hq = make_query(SETTINGS, start=START, end=END, group_by="", entity="account")
    health = {r["entity"]: r["health"] for r in await health_rows(store, SETTINGS, hq)}
    want_h = reference_health(events, "account", params)
    assert health == pytest.approx({e: w["health"] for e, w in want_h.items()})


async def test_backend_rows_and_incremental_state(store: Any) -> None:
    events = random_fleet(random.Random(8), history=60, devices=12)
    ordered = sorted(events, key=lambda e: e["ts"])
    await write_events(store, ordered[: len(ordered) // 2])
    await check(store, ordered[: len(ordered) // 2])  # warms the in-memory state
    # The rest arrives in small transactions, newest first (so many events are late), some
    # of them twice; on PostgreSQL two writers at a time (one SQLite connection writes alone).
    rest = list(reversed(ordered[len(ordered) // 2 :]))
    chunks = [rest[k : k + 200] for k in range(0, len(rest), 200)]
    chunks += [random.Random(1).sample(events, 50)]
    at_once = 2 if type(store).__name__ == "PgStore" else 1
    for k in range(0, len(chunks), 2):
        for j in range(k, k + 2, at_once):
            await asyncio.gather(*(write_events(store, c) for c in chunks[j : j + at_once]))
        if k == 2:
            await check(
                store, [e for c in chunks[: k + 2] for e in c] + ordered[: len(ordered) // 2]
            )
    await check(store, events)
