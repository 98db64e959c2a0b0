"""A store written by the collector before the package redesign (one flat `collector/` folder)
opens, reads and writes unchanged under this one, on both backends.

`data/old-sqlite.sql` and `data/old-pg.sql` are dumps (`sqlite3 .dump`, `pg_dump --inserts`) of
stores that commit 97d5c3e wrote: pes.md's worked example imported with `pes-collector import`
(plus one invalid line), then two overlapping stream batches of device gw-old (seqs 1-5 and 4-8)
and its agent status, written through that version's `Store.write`. The test builds the same
store from scratch with today's code and compares what both answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from collector.ingest import parse_batch, parse_import_line
from collector.records import ParsedMessage, QuarantineRow
from collector.reports import make_query, pes_rows
from collector.settings import PesSettings
from collector.storage import Store, open_store
from tests.kits.pes import PgDatabase

DATA = Path(__file__).with_name("data")
UTC = ZoneInfo("UTC")
NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z, as when the dumps were written
STATUS = {"device_id": "gw-old", "state": "online", "buffer_depth": 3}


def _payload(first: int, last: int) -> bytes:
    events = [
        {"id": f"0190f0a0-0000-7000-8000-{seq:012d}", "seq": seq, "kind": "feature_use",
         "feature": "jog" if seq % 2 else "probe", "ts": NOW - 3_600_000 + seq,
         "device_type": "press-x", "firmware_version": "2.0", "account_id": "acct-old",
         "labels": {"site": "north"}}
        for seq in range(first, last + 1)
    ]  # fmt: skip
    return json.dumps({"v": 1, "device_id": "gw-old", "stream_id": "s-old", "first_seq": first,
                       "last_seq": last, "sent_ms": NOW, "sent_mono": 1000, "boot": "b1",
                       "events": events}).encode()  # fmt: skip


def _batch(first: int, last: int) -> ParsedMessage:
    return parse_batch("pes/v1/dev/gw-old/events", _payload(first, last), None, NOW, UTC)


async def _fill_like_the_old_collector(store: Store, specs_dir: Path) -> None:
    lines = (specs_dir / "pes-example-events.jsonl").read_text().splitlines()
    unit = ParsedMessage()
    for n, line in enumerate([*lines, '{"bad": 1}'], 1):
        row = parse_import_line(line, f"import:events.jsonl:{n}", NOW, UTC)
        if isinstance(row, QuarantineRow):
            unit.quarantined.append(row)
        else:
            unit.events.append(row)
    await store.write([unit], NOW)
    await store.write([_batch(1, 5), _batch(4, 8)], NOW, [("gw-old", STATUS)])


def _restore_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript((DATA / "old-sqlite.sql").read_text())
    finally:
        con.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def old_and_new(
    request: pytest.FixtureRequest, tmp_path: Path, specs_dir: Path
) -> AsyncIterator[tuple[Store, Store]]:
    """(the store the old layout wrote, the same history written by today's code)."""
    if request.param == "sqlite":
        _restore_sqlite(tmp_path / "old.db")
        async with open_store(f"sqlite:///{tmp_path}/old.db") as old:
            async with open_store(f"sqlite:///{tmp_path}/new.db") as new:
                await _fill_like_the_old_collector(new, specs_dir)
                yield old, new
        return
    async with PgDatabase() as old_db, PgDatabase() as new_db:
        con = await asyncpg.connect(old_db.dsn)
        try:
            await con.execute((DATA / "old-pg.sql").read_text())
        finally:
            await con.close()
        async with open_store(old_db.dsn) as old, open_store(new_db.dsn) as new:
            await _fill_like_the_old_collector(new, specs_dir)
            yield old, new


def _without_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "status_ms"} for r in rows]


async def test_old_store_answers_as_a_new_one(old_and_new: tuple[Store, Store]) -> None:
    old, new = old_and_new
    assert await old.stats() == await new.stats()
    assert (await old.stats())["events"] == 76
    assert _without_times(await old.devices(100, 0)) == _without_times(await new.devices(100, 0))
    settings = PesSettings(timezone="UTC", core_features={"press-x": ["calibrate", "export"]})
    for group_by, entity in (("device_type,firmware_version", "device"), ("", "account"),
                             ("label:site", "device")):  # fmt: skip
        q = make_query(settings, start=date(2026, 3, 8), end=date(2026, 3, 14),
                       group_by=group_by, entity=entity)  # fmt: skip
        old_rows = await pes_rows(old, settings, q)
        assert old_rows, (group_by, entity)
        assert old_rows == await pes_rows(new, settings, q)


async def test_old_store_keeps_deduplicating_and_writing(old_and_new: tuple[Store, Store]) -> None:
    old, _ = old_and_new
    # The stream ranges the old collector recorded still decide: a resend is a duplicate...
    [resent] = await old.write([_batch(1, 8)], NOW + 1000)
    assert (resent.stored, resent.duplicates) == (0, 8)
    # ... and what follows is stored, with no gap.
    [more] = await old.write([_batch(9, 10)], NOW + 2000)
    assert (more.stored, more.duplicates) == (2, 0)
    stats = await old.stats()
    assert stats["events"] == 78 and stats["gap_events"] == 0
