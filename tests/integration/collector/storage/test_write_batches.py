"""Random stream batches through `Store.write` on both backends: overlapping resends, a seq
repeated inside a batch, an event id sent again under another seq or stream, within a batch,
across the batches of one write and across writes. Whatever the batching, each (device, event
id) is stored and counted once, and the rollups equal the reference fold
(tests/oracles/rollups_reference.py) of the distinct events."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from collector.records import AckTarget, EventRow, ParsedMessage
from collector.storage import Store
from tests.oracles.rollups_reference import fold_reference

NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
DAY_MS = 86_400_000
DAYS = (date(2026, 3, 13), date(2026, 3, 14))


def _logical_events(rng: random.Random, device: str, stream: str, n: int) -> list[EventRow]:
    """Seqs 1..n of one stream; an event may reuse the id (and everything the rollups read) of
    an earlier one of the same device: the same event sent again under a new seq."""
    out: list[EventRow] = []
    for seq in range(1, n + 1):
        kind = rng.choice(["feature_use", "feature_use", "session_end", "heartbeat"])
        day = rng.randrange(2)
        ts = NOW - (1 - day) * DAY_MS - rng.randrange(1000) * 1000
        props = (
            json.dumps({"duration_s": rng.choice([30, 61.5])}) if kind == "session_end" else "{}"
        )
        out.append(EventRow(
            device, f"{device}-{stream}-{seq}", stream, seq, kind,
            rng.choice(["jog", "cut"]) if kind == "feature_use" else None, None, None, ts, ts,
            "wall", DAYS[day].isoformat(), "press-x", rng.choice(["2.1", "2.2"]), "acme",
            rng.choice(["{}", '{"site":"a"}']), props,
        ))  # fmt: skip
    return out


def _copy_ids(rng: random.Random, streams: list[list[EventRow]]) -> None:
    """Turn some events into copies of an earlier event of the device (any of its streams)."""
    pool = [e for s in streams for e in s]
    for s in streams:
        for i, e in enumerate(s):
            if rng.random() < 0.1:
                src = rng.choice(pool)
                s[i] = src._replace(stream_id=e.stream_id, seq=e.seq)


def _unit(events: list[EventRow], first: int, last: int) -> ParsedMessage:
    target = AckTarget(events[0].device_id, events[0].stream_id or "", first, last)
    return ParsedMessage(events=events, ack=target, stream=target)


@pytest.mark.parametrize("seed", range(3))
async def test_random_batches_store_each_event_once_with_exact_rollups(
    store: Store, seed: int
) -> None:
    rng = random.Random(seed)
    streams: dict[tuple[str, str], list[EventRow]] = {}
    for device in ("gw-1", "gw-2", "gw-3"):
        own = [_logical_events(rng, device, s, rng.randint(20, 60)) for s in ("s1", "s2")]
        _copy_ids(rng, own)
        for s, events in zip(("s1", "s2"), own, strict=True):
            streams[(device, s)] = events
    units = []
    for events in streams.values():
        n = len(events)
        for _ in range(rng.randint(3, 8)):  # random ranges: resends and overlaps
            a = rng.randint(1, n)
            b = min(n, a + rng.randint(0, 15))
            batch = events[a - 1 : b]
            if rng.random() < 0.3:
                batch = [*batch, rng.choice(batch)]  # a seq twice in one batch
            units.append(_unit(batch, a, b))
        units.append(_unit(events, 1, n))  # every seq arrives at least once
    rng.shuffle(units)
    distinct = {(e.device_id, e.event_id): e for s in streams.values() for e in s}
    stored = dups = 0
    i = 0
    while i < len(units):
        k = rng.randint(1, 6)  # batches per write
        for c in await store.write(units[i : i + k], NOW):
            stored += c.stored
            dups += c.duplicates
        i += k
    assert stored == len(distinct)
    assert stored + dups == sum(len(u.events) for u in units)
    assert (await store.stats())["events"] == len(distinct)
    assert await store.events_seen_by_device() == {
        d: sum(1 for dev, _ in distinct if dev == d) for d in ("gw-1", "gw-2", "gw-3")
    }
    want = fold_reference(distinct.values())
    feats = await store.features("device", *DAYS)
    assert sorted(feats) == sorted(
        (d, t, f, labels, day, feature, n) for d, _, t, f, labels, day, feature, n in want.features
    )
    sessions = await store.sessions("device", *DAYS)
    assert sorted((r[:6], round(r[6], 6)) for r in sessions) == sorted(
        ((d, t, f, labels, day, n), round(s, 6)) for d, _, t, f, labels, day, n, s in want.sessions
    )
    active = await store.activity("device", DAYS[1])
    assert sorted(active) == sorted(
        (d, t, f, labels, day) for d, _, t, f, labels, day, _ in want.activity
    )
