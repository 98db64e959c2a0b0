"""The warehouse export on both backends: files read back by a second engine (DuckDB) hold what
the store holds, a second run writes nothing, a late event rewrites its day without duplicates,
and per-day stream rows tell lost events from a quiet device."""

from __future__ import annotations

import fcntl
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from collector.export import ExportBusy, ExportOptions, export_parquet
from collector.ingest.parse import parse_batch
from collector.records import ParsedMessage
from collector.settings import PesSettings
from collector.storage import Store
from tests.integration.collector.storage.test_backends import NOW, UTC
from tests.integration.collector.storage.test_counts import imported
from tests.kits.export import warehouse

D13, D14 = date(2026, 3, 13), date(2026, 3, 14)
PES = PesSettings()


def stream_batch(device: str, first: int, last: int, drops: list[dict[str, Any]]) -> ParsedMessage:
    events = [
        {"id": f"0190a000-0000-7000-8000-{device[-1]}{seq:011d}", "seq": seq,
         "kind": "feature_use", "feature": "calibrate", "ts": NOW - 1000,
         "device_type": "press-x", "firmware_version": "2.1", "account_id": "acme"}
        for seq in range(first, last + 1)
    ]  # fmt: skip
    doc = {"v": 1, "device_id": device, "stream_id": "s1", "first_seq": first,
           "last_seq": last, "sent_ms": NOW, "sent_mono": 1, "boot": "b",
           "events": events, "drops": drops}  # fmt: skip
    return parse_batch(f"pes/v1/dev/{device}/events", json.dumps(doc).encode(), None, NOW, UTC)


async def test_export_round_trip_incremental_and_late_events(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "warehouse"
    await store.write([imported("d9", range(4), D13)], NOW)
    drop = [{"first_seq": 8, "last_seq": 9, "reason": "buffer_full"}]
    await store.write([stream_batch("d1", 1, 5, [])], NOW)
    await store.write([stream_batch("d1", 10, 12, drop)], NOW)  # 6-7 lost, 8-9 dropped
    await store.write([stream_batch("d2", 1, 3, [])], NOW)
    opts = ExportOptions(out, end=D14, pes_days=7)

    first = await export_parquet(store, PES, opts)
    db = warehouse(out)

    def q(sql: str) -> list[tuple[Any, ...]]:
        return db.sql(sql).fetchall()

    assert first.days == ["2026-03-13", "2026-03-14"]
    assert q("SELECT day, count(*) FROM events GROUP BY day ORDER BY day") == [
        (D13, 4), (D14, 11)
    ]  # fmt: skip
    assert q("SELECT count(*) FROM events")[0][0] == (await store.stats())["events"]
    assert q("SELECT day, device_id, events FROM activity_day ORDER BY day, device_id") == [
        (D13, "d9", 4), (D14, "d1", 8), (D14, "d2", 3)
    ]  # fmt: skip
    assert q("SELECT sum(uses) FROM feature_day")[0][0] == 15
    rows = q("SELECT device_id, events, gap_events, dropped_events, gaps[1].first, "
             "dropped[1].reason FROM streams ORDER BY device_id")  # fmt: skip
    assert rows == [("d1", 8, 2, 2, 6, "buffer_full"), ("d2", 3, 0, 0, None, None)]
    assert q("SELECT count(*), sum(gap_events), sum(dropped_events) FROM streams_now") == [
        (2, 2, 2)
    ]
    got = q("SELECT entity, active, pes FROM pes WHERE day = DATE '2026-03-14' ORDER BY entity")
    assert [(e, a) for e, a, _ in got] == [("account", 1), ("device", 3)]

    # A second run: nothing new, nothing written, the day files unchanged (the stream snapshot
    # is current state, rewritten by every run).
    before = {p: p.stat().st_mtime_ns for p in out.rglob("day=*/*.parquet")}
    again = await export_parquet(store, PES, opts)
    assert again.written == {} and again.days == []
    assert {p: p.stat().st_mtime_ns for p in out.rglob("day=*/*.parquet")} == before

    # A late event of day 13: its day is rewritten (replaced, not appended), and the PES of
    # day 14, whose window holds day 13.
    await store.write([imported("d9", range(4, 5), D13)], NOW)
    late = await export_parquet(store, PES, opts)
    assert late.days == ["2026-03-13", "2026-03-14"]
    assert late.written["events"] == 1 and late.written["pes"] == 2
    assert q("SELECT day, count(*) FROM events GROUP BY day ORDER BY day") == [
        (D13, 5), (D14, 11)
    ]  # fmt: skip
    assert q("SELECT count(DISTINCT event_id) = count(*) FROM events") == [(True,)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tables"]["events"]["2026-03-13"]["rows"] == 5
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


async def test_day_rows_come_in_bounded_batches_in_a_stable_order(store: Store) -> None:
    await store.write([stream_batch("d2", 1, 6, []), stream_batch("d1", 1, 5, [])], NOW)
    sizes, seen = [], []
    async for rows in store.day_rows("events", D14, batch=4):
        sizes.append(len(rows))
        seen += [(r[0], r[3]) for r in rows]  # device_id, seq
    assert sizes == [4, 4, 3]
    assert seen == [("d1", s) for s in range(1, 6)] + [("d2", s) for s in range(1, 7)]
    assert [r async for r in store.day_rows("feature_day", D13)] == []


async def test_a_second_export_into_the_same_folder_waits_its_turn(
    store: Store, tmp_path: Path
) -> None:
    await store.write([stream_batch("d1", 1, 3, [])], NOW)
    out = tmp_path / "warehouse"
    out.mkdir()
    with (out / ".export.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running export holds it
        with pytest.raises(ExportBusy, match="another export"):
            await export_parquet(store, PES, ExportOptions(out, end=D14))
    assert not (out / "manifest.json").exists()
    done = await export_parquet(store, PES, ExportOptions(out, end=D14))  # released: runs
    assert done.rows["events"] == 3
