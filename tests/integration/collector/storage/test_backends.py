"""One test suite, both backends: SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.errors import QueryError
from collector.ingest.parse import parse_batch, parse_import_line
from collector.records import ParsedMessage
from collector.reports import make_query, pes_rows
from collector.settings import PesSettings
from collector.storage import Pruned, Store

UTC = ZoneInfo("UTC")
NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z


def batch(device: str, first: int, last: int, *, stream: str = "s1", **ev: Any) -> ParsedMessage:
    events = [
        {
            "id": f"0190a000-0000-7000-8000-{abs(hash((device, stream))) % 10**6:06d}{seq:06d}",
            "seq": seq,
            "kind": "feature_use",
            "feature": "calibrate",
            "ts": NOW - 1000,
            "device_type": "press-x",
            "firmware_version": "2.1",
            "account_id": "acme",
            **ev,
        }
        for seq in range(first, last + 1)
    ]
    doc = {"v": 1, "device_id": device, "stream_id": stream, "first_seq": first,
           "last_seq": last, "sent_ms": NOW, "sent_mono": 1, "boot": "b",
           "events": events}  # fmt: skip
    return parse_batch(f"pes/v1/dev/{device}/events", json.dumps(doc).encode(), None, NOW, UTC)


async def test_resends_and_overlaps_are_counted_once(store: Store) -> None:
    (c1,) = await store.write([batch("d1", 1, 10)], NOW)
    assert (c1.stored, c1.duplicates) == (10, 0)
    c2, c3 = await store.write([batch("d1", 1, 10), batch("d1", 5, 15)], NOW)
    assert (c2.stored, c2.duplicates) == (0, 10)
    assert (c3.stored, c3.duplicates) == (5, 6)  # 5..10 seen, 11..15 new
    (c4,) = await store.write([batch("d1", 1, 3, stream="s2")], NOW)  # a new buffer file
    assert c4.stored == 3
    stats = await store.stats()
    assert stats["events"] == 18 and stats["devices"] == 1
    feats = await store.features("device", date(2026, 3, 14), date(2026, 3, 14))
    assert feats == [("d1", "press-x", "2.1", "{}", "2026-03-14", "calibrate", 18)]


async def test_quarantine_is_stored_and_counted(store: Store) -> None:
    bad = batch("d1", 1, 2)
    spoof = parse_batch("pes/v1/dev/d2/events", b'{"nope": 1}', None, NOW, UTC)
    counts = await store.write([bad, spoof], NOW)
    assert [c.quarantined for c in counts] == [0, 1]
    stats = await store.stats()
    assert stats["quarantined"] == 1 and stats["quarantine_by_reason"] == {"bad_envelope": 1}


async def test_concurrent_writes_of_the_same_batch_store_it_once(store: Store) -> None:
    results = await asyncio.gather(
        *(store.write([batch("d9", 1, 50)], NOW) for _ in range(4)), return_exceptions=True
    )
    stored = sum(r[0].stored for r in results if isinstance(r, list))
    assert stored == 50
    assert (await store.stats())["events"] == 50


async def test_worked_example_through_import_path(store: Store, specs_dir: Path) -> None:
    expected = json.loads((specs_dir / "pes-example-expected.json").read_text())
    unit = ParsedMessage()
    lines = (specs_dir / "pes-example-events.jsonl").read_text().splitlines()
    for n, line in enumerate(lines):
        row = parse_import_line(line, f"import:{n}", NOW, UTC)
        assert not hasattr(row, "reason")
        unit.events.append(row)
    (c,) = await store.write([unit], NOW)
    assert (c.stored, c.duplicates) == (68, 1)
    settings = PesSettings(core_features=expected["core_features"])
    q = make_query(settings, start=date.fromisoformat(expected["start"]),
                   end=date.fromisoformat(expected["end"]), group_by=None,
                   stickiness="dau_wau")  # fmt: skip
    rows = await pes_rows(store, settings, q)
    for got, want in zip(rows, expected["expected"], strict=True):
        assert got["device_type"] == want["device_type"]
        assert got["pes"] == pytest.approx(want["pes"], abs=1e-4)
        assert (got["new"], got["recovered"], got["dropped"]) == (
            want["new"], want["recovered"], want["dropped"])  # fmt: skip


async def test_gaps_and_declared_drops_are_tracked_per_stream(store: Store) -> None:
    b2 = batch("d3", 21, 30)
    b2.drops.append((11, 15, "overflow"))  # the agent says it dropped 11..15 itself
    await store.write([batch("d3", 1, 10), b2], NOW)
    stats = await store.stats()
    assert stats["gap_events"] == 5  # 16..20: lost in transport, not explained
    assert stats["dropped_events"] == 5
    await store.write([batch("d3", 16, 20)], NOW)  # late arrival fills the gap
    assert (await store.stats())["gap_events"] == 0


async def test_device_registry_shows_latest_attributes_and_loss(store: Store) -> None:
    await store.write([batch("d4", 1, 5), batch("d4", 8, 9, firmware_version="2.2")], NOW)
    await store.save_status("d4", {"state": "online", "buffer_depth": 3}, NOW)
    (dev,) = await store.devices(10, 0)
    assert dev["device_id"] == "d4" and dev["events"] == 7
    assert dev["firmware_version"] == "2.2"
    assert dev["status"] == {"state": "online", "buffer_depth": 3}
    assert dev["gap_events"] == 2  # 6..7 never arrived


async def test_filters_and_session_rollup(store: Store) -> None:
    await store.write([batch("d5", 1, 3), batch("d6", 1, 2, firmware_version="3.0")], NOW)
    end = batch("d5", 4, 4, kind="session_end", feature=None, props={"duration_s": 90})
    await store.write([end], NOW)
    day = date(2026, 3, 14)
    only = await store.features("device", day, day, {"firmware_version": "3.0"})
    assert [(r[0], r[6]) for r in only] == [("d6", 2)]
    acts = await store.activity("account", day, {"device_id": "d5"})
    assert acts == [("acme", "press-x", "2.1", "{}", "2026-03-14")]
    assert await store.sessions("device", day, day) == [
        ("d5", "press-x", "2.1", "{}", "2026-03-14", 1, 90.0)
    ]
    with pytest.raises(QueryError):
        await store.activity("device", day, {"labels; DROP TABLE events": "x"})


async def test_retention_prunes_raw_events_but_keeps_rollups(store: Store) -> None:
    await store.write([batch("d7", 1, 4)], NOW)  # day 2026-03-14
    assert await store.prune_events(date(2026, 3, 14)) == Pruned(0)
    assert await store.prune_events(date(2026, 3, 15)) == Pruned(4)  # from the DEFAULT partition
    assert (await store.stats())["events"] == 0
    feats = await store.features("device", date(2026, 3, 14), date(2026, 3, 14))
    assert [(r[0], r[6]) for r in feats] == [("d7", 4)]
    (c,) = await store.write([batch("d7", 1, 4)], NOW)  # a late resend is still a duplicate
    assert c.stored == 0


async def test_imports_store_the_first_copy_of_each_event_across_chunks(store: Store) -> None:
    """Imported events (no stream) across several insert chunks, with copies in one chunk, in
    the next and in a later write: each stored once, and the write counts say which."""

    def line(n: int, feature: str = "calibrate") -> str:
        return json.dumps({
            "id": f"0190a000-0000-7000-8000-{n:012d}", "device_id": f"d{n % 7}",
            "kind": "feature_use", "feature": feature, "ts": "2026-03-14T08:00:00Z",
            "device_type": "press-x", "firmware_version": "2.1", "account_id": "acme",
        })  # fmt: skip

    numbers = [*range(2500), 5, 999, 1000, 2499]  # copies inside a chunk and across chunks
    unit = ParsedMessage()
    for k, n in enumerate(numbers):
        row = parse_import_line(line(n, "export" if k >= 2500 else "calibrate"), "t", NOW, UTC)
        assert not hasattr(row, "reason")
        unit.events.append(row)
    (c,) = await store.write([unit], NOW)
    assert (c.stored, c.duplicates) == (2500, 4)
    feats = await store.features("device", date(2026, 3, 14), date(2026, 3, 14))
    assert {f[5] for f in feats} == {"calibrate"}  # the first copy won, not the later one
    assert sum(f[6] for f in feats) == 2500
    again = ParsedMessage()
    again.events.extend(unit.events[2400:])
    (c2,) = await store.write([again], NOW)
    assert (c2.stored, c2.duplicates) == (0, 104)
    assert (await store.stats())["events"] == 2500
