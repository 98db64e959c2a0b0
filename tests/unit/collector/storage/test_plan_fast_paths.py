"""The write plan's whole-batch fast paths against the event-by-event code they stand in for:
`rollups.fold` against the reference fold (tests/oracles/rollups_reference.py), a stream
batch's fresh events and the plan's id dedup against a set of what was stored, RecentIds'
bulk add against adding one key at a time, and update_runs' whole-device path against
runs_from_events. Random inputs are shaped so that both the fast and the slow paths run."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import date, timedelta

import pytest

from collector.records import AckTarget, EventRow, ParsedMessage
from collector.storage.plan import RunsAccess, plan_write
from collector.storage.rollups import fold
from collector.storage.runbook import update_runs
from collector.storage.runs import FwEvent, Run, Stamp, runs_from_events
from collector.storage.streams import RecentIds, StreamBook
from tests.kits.releases import StampsFrom
from tests.oracles.rollups_reference import fold_reference

KINDS = ["feature_use", "feature_use", "session_start", "session_end", "heartbeat", "error"]


def _random_event(rng: random.Random, n: int, device: str | None = None) -> EventRow:
    kind = rng.choice(KINDS)
    props = {"duration_s": rng.choice([1, 2.5, -3, "x", True])} if rng.random() < 0.7 else {}
    return EventRow(
        device or rng.choice(["gw-1", "gw-2", "gw-3"]), f"e{n}", "s1", n, kind,
        rng.choice(["jog", "cut", None]), None, None,  # a feature on any kind: only uses count
        rng.choice([1000, 2000, 3000]) + rng.randrange(3),  # ties: the later event wins
        1000, "wall", rng.choice(["2026-03-14", "2026-03-15"]), rng.choice(["press-x", "saw"]),
        rng.choice(["2.1", "2.2"]), rng.choice(["acme", "beta"]),
        rng.choice(["{}", '{"site":"a"}']), json.dumps(props),
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_fold_equals_the_event_by_event_reference(seed: int) -> None:
    rng = random.Random(seed)
    events: list[EventRow] = []
    n = 0
    for _ in range(rng.randint(0, 12)):  # runs of one device, as a write's batches come
        device = rng.choice(["gw-1", "gw-2", "gw-3"])
        for _ in range(rng.randint(1, 30)):
            n += 1
            events.append(_random_event(rng, n, device if rng.random() < 0.9 else None))
    got, want = fold(events), fold_reference(events)
    # Equal lists: the same rows in the same order (PostgreSQL locks them in that order).
    assert got == want
    assert fold(iter(events)) == want  # any iterable, not only lists


@pytest.mark.parametrize("seed", range(40))
def test_fold_of_a_few_kinds_equals_the_reference(seed: int) -> None:
    # fold skips its per-event filters by the kinds present (all activity kinds, only
    # feature_use with a feature, no session_end): writes of one or two kinds, with and
    # without events of feature_use lacking a feature.
    rng = random.Random(seed)
    kinds = rng.sample(KINDS, rng.randint(1, 2))
    featureless = rng.random() < 0.5
    events = []
    for n in range(rng.randint(1, 60)):
        ev = _random_event(rng, n)._replace(kind=rng.choice(kinds))
        if ev.feature is None and not featureless:
            ev = ev._replace(feature="jog")
        events.append(ev)
    assert fold(events) == fold_reference(events)


def _unit(events: list[EventRow], first: int, last: int) -> ParsedMessage:
    target = AckTarget("gw-1", "s1", first, last)
    return ParsedMessage(events=events, ack=target, stream=target)


def _stream_event(seq: int | None, event_id: str) -> EventRow:
    return EventRow(
        "gw-1", event_id, "s1", seq, "feature_use", "jog", None, None, 1000, 1000, "wall",
        "2026-03-14", "press-x", "2.1", "acme", "{}", "{}",
    )  # fmt: skip


async def _no_stamps(spans: object) -> dict[str, list[Stamp]]:
    return {}


async def _no_runs(devices: object) -> dict[str, tuple[Run, ...]]:
    return {}


async def _no_imports(events: object) -> list[EventRow]:
    raise AssertionError("stream batches only")


@pytest.mark.parametrize("seed", range(40))
def test_stream_batches_store_each_seq_and_each_id_once(seed: int) -> None:
    """Batches of one stream over several writes: runs of new seqs (the fast path) mixed with
    resends, overlaps, repeated seqs in a batch and ids sent again under a new seq, within a
    batch, across the batches of one write and across writes (RecentIds). What the plans
    store must be what a set of received seqs and one of stored ids say, in arrival order."""
    rng = random.Random(seed)
    book_rows: list[tuple[object, ...]] = []
    recent = RecentIds()
    received: set[int] = set()  # every seq of each batch's declared range, as the book marks
    stored_ids: set[str] = set()
    next_seq = 1
    for _ in range(rng.randint(1, 6)):  # writes
        units, want = [], []
        for _ in range(rng.randint(1, 4)):  # the batches of this write
            if rng.random() < 0.5:  # new seqs only: the fast path unless an id repeats
                first = next_seq
                seqs = list(range(first, first + rng.randint(1, 6)))
            else:  # anything: resends, overlaps, repeats
                first = rng.randint(1, next_seq + 3)
                seqs = [rng.randint(first, first + 6) for _ in range(rng.randint(1, 6))]
            last = max(seqs)
            next_seq = max(next_seq, last + 1)
            events: list[EventRow] = []
            for seq in seqs:
                pool = sorted(stored_ids) + [e.event_id for e in events]
                reuse = pool and rng.random() < 0.15
                events.append(_stream_event(seq, rng.choice(pool) if reuse else f"id-{seq}"))
            units.append(_unit(events, first, last))
            in_batch: set[int] = set()
            for e in events:
                assert e.seq is not None
                if e.seq in received or e.seq in in_batch:
                    continue
                in_batch.add(e.seq)
                if e.event_id not in stored_ids:
                    stored_ids.add(e.event_id)
                    want.append(e)
            received |= set(range(first, last + 1))
        book = StreamBook()
        book.load(book_rows)
        book.admit([("gw-1", "s1")], {})
        access = RunsAccess(_no_runs, _no_stamps)
        plan = asyncio.run(plan_write(units, book, 5000, _no_imports, access, recent))
        assert plan.stream_fresh == want
        assert plan.stream_keys == [RecentIds.key(ev) for ev in want]
        recent.add_keys(plan.stream_keys)  # committed, as the backends do
        book_rows = [tuple(r) for r in book.rows()]


def test_a_fast_batch_falls_back_when_its_seqs_touch_a_received_range() -> None:
    book = StreamBook()
    book.admit([("gw-1", "s1")], {})
    assert book.accept(_unit([_stream_event(s, f"a{s}") for s in (1, 2, 3)], 1, 3), 0)
    # 3..5: distinct seqs, but 3 is received: only 4 and 5 are fresh.
    got = book.accept(_unit([_stream_event(s, f"b{s}") for s in (3, 4, 5)], 3, 5), 0)
    assert [e.seq for e in got or []] == [4, 5]
    # A seq missing (None) anywhere sends the batch event by event; it is never stored.
    got = book.accept(_unit([_stream_event(6, "c6"), _stream_event(None, "c")], 6, 6), 0)
    assert [e.seq for e in got or []] == [6]


class _OneByOne:
    """RecentIds.add as it was: one key at a time, turning over at half the capacity."""

    def __init__(self, capacity: int) -> None:
        self.half = max(1, capacity // 2)
        self.current: set[int] = set()
        self.previous: set[int] = set()

    def add(self, events: list[EventRow]) -> None:
        for ev in events:
            self.current.add(RecentIds.key(ev))
            if len(self.current) >= self.half:
                self.previous, self.current = self.current, set()


@pytest.mark.parametrize("capacity", [1, 2, 3, 10, 64])
def test_recent_ids_bulk_add_equals_adding_one_at_a_time(capacity: int) -> None:
    rng = random.Random(capacity)
    bulk, one = RecentIds(capacity), _OneByOne(capacity)
    events = [_stream_event(i, f"id-{rng.randrange(60)}") for i in range(400)]  # repeats too
    i = 0
    while i < len(events):
        n = rng.randint(0, 25)
        bulk.add(events[i : i + n])
        one.add(events[i : i + n])
        i += n
        assert (bulk._current, bulk._previous) == (one.current, one.previous)


def _fw(r: EventRow) -> FwEvent:
    day = date.fromisoformat(r.day).toordinal()
    return FwEvent(r.device_id, r.device_type, r.firmware_version, day, r.ts_ms, r.event_id)


@pytest.mark.parametrize("seed", range(40))
def test_update_runs_whole_device_path_equals_runs_from_events(seed: int) -> None:
    """Batches that are mostly one device's events in one configuration, late ones inside or
    before its current run (the whole-device path), now and then another configuration or an
    event before an earlier run (the event-by-event path)."""
    rng = random.Random(seed)
    d0 = date(2026, 3, 2)
    stored: list[EventRow] = []
    runs: dict[str, tuple[Run, ...]] = {}
    fw = {"a": "1.0", "b": "1.0"}

    n = 0
    clock = 100_000
    for _ in range(rng.randint(3, 25)):
        device = rng.choice(["a", "b"])
        if rng.random() < 0.2:
            fw[device] = rng.choice(["1.0", "2.0", "3.0"])
        fresh = []
        for _ in range(rng.randint(1, 12)):
            n += 1
            clock += rng.randint(1, 5_000)
            late = rng.random() < 0.3
            ts = clock - rng.randint(0, 60_000 if late else 0)
            day = d0 + timedelta(days=ts // 86_400_000)
            fw_now = fw[device] if rng.random() < 0.95 else rng.choice(["1.0", "2.0"])
            fresh.append(EventRow(
                device, f"e{n:05d}", None, None, "heartbeat", None, None, None, ts, ts, "wall",
                day.isoformat(), "press-x", fw_now, "acme", "{}", "{}",
            ))  # fmt: skip
        runs.update(asyncio.run(update_runs(fresh, runs, StampsFrom(list(stored)))))
        stored += fresh
    for device in {r.device_id for r in stored}:
        want = runs_from_events([_fw(r) for r in stored if r.device_id == device])
        assert runs[device] == want


def test_event_rows_are_the_events_columns_in_order() -> None:
    """Both backends insert EventRow tuples as they are (received_ms appended), by position."""
    from collector.storage.postgres import write as pg_write
    from collector.storage.sqlite import write as sqlite_write

    columns = (*EventRow._fields, "received_ms")
    assert pg_write._EVENT_COLUMNS == columns
    listed = sqlite_write._INSERT_EVENT.split("(", 1)[1].split(")", 1)[0]
    assert tuple(c.strip() for c in listed.split(",")) == columns
