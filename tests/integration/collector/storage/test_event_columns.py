"""SQLite stores a stream event's optional columns (feature, session_id, user_id) as sent: the
write leaves a column out of its INSERT when it is NULL in a whole group of rows
(collector/storage/sqlite/write.py `_by_null_columns`), and groups mixed rows by which are NULL.
Every combination, in writes where each is uniform and in writes that mix them, reads back
exactly (value or NULL) with the other columns unchanged."""

from __future__ import annotations

import itertools
import random
import sqlite3
from pathlib import Path

import pytest

from collector.records import AckTarget, EventRow, ParsedMessage
from collector.storage import open_store

NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
RECEIVED = NOW + 5_000
Combo = tuple[str | None, ...]  # feature, session_id, user_id: None or set
COMBOS: list[Combo] = list(itertools.product([None, "x"], repeat=3))


def _events(stream: str, picks: list[Combo]) -> list[EventRow]:
    return [
        EventRow(
            "gw-1",
            f"{stream}-{seq}",
            stream,
            seq,
            "feature_use" if f else "heartbeat",
            f and f"f{seq % 3}",
            s and f"sess-{seq}",
            u and f"user-{seq % 2}",
            NOW + seq,
            NOW + seq - 1,
            "wall",
            "2026-03-14",
            "press-x",
            "2.1",
            "acme",
            '{"site":"a"}',
            "{}",
        )
        for seq, (f, s, u) in enumerate(picks, start=1)
    ]


def _unit(events: list[EventRow]) -> ParsedMessage:
    target = AckTarget("gw-1", events[0].stream_id or "", 1, len(events))
    return ParsedMessage(events=events, ack=target, stream=target)


def _stored(path: Path) -> set[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return set(db.execute("SELECT * FROM events"))


@pytest.mark.parametrize("seed", range(3))
async def test_optional_columns_read_back_as_written(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    # One write per combination, all rows alike; one per combination where a single row
    # differs from rows with none of the three; then random mixes in one write.
    alone = [_unit(_events(f"u{i}", [combo] * 5)) for i, combo in enumerate(COMBOS)]
    alone += [_unit(_events(f"o{i}", [*[COMBOS[0]] * 4, c])) for i, c in enumerate(COMBOS[1:])]
    mixed = [_unit(_events(f"m{i}", rng.choices(COMBOS, k=40))) for i in range(3)]
    path = tmp_path / "c.db"
    async with open_store(f"sqlite:///{path}") as store:
        for unit in alone:
            await store.write([unit], RECEIVED)
        await store.write(mixed, RECEIVED)
    units = alone + mixed
    expected = {(*ev, RECEIVED) for u in units for ev in u.events}
    assert _stored(path) == expected
