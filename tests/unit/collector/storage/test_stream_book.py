"""StreamBook's bookkeeping by hand: which new streams a device may open, the rows written
back (ranges, counts, first and last seen) and their reload, and RecentIds' bounded memory."""

from __future__ import annotations

import json

from collector.records import AckTarget, EventRow, ParsedMessage
from collector.storage.streams import RecentIds, StreamBook, saturated
from shared import limits as L


def _event(seq: int, stream: str = "s1", device: str = "gw-1") -> EventRow:
    return EventRow(
        device, f"id-{stream}-{seq}", stream, seq, "feature_use", "jog", None, None, 1000 + seq,
        1000 + seq, "wall", "2026-03-14", "press-x", "2.1", "acme", "{}", "{}",
    )  # fmt: skip


def _unit(first: int, last: int, *, stream: str = "s1", seqs: list[int] | None = None,
          drops: list[tuple[int, int, str]] | None = None) -> ParsedMessage:  # fmt: skip
    target = AckTarget("gw-1", stream, first, last)
    events = [_event(s, stream) for s in (range(first, last + 1) if seqs is None else seqs)]
    return ParsedMessage(events=events, ack=target, stream=target, drops=drops or [])


def test_a_device_may_open_its_daily_allowance_of_new_streams() -> None:
    book = StreamBook()
    cap = L.MAX_STREAMS_PER_DEVICE_PER_DAY
    opened = {"gw-1": cap - 2}
    keys = [("gw-1", f"s{i}") for i in range(4)] + [("gw-1", "s0"), ("gw-2", "t")]
    assert book.admit(keys, opened) == [("gw-1", "s0"), ("gw-1", "s1"), ("gw-2", "t")]
    assert opened == {"gw-1": cap, "gw-2": 1}
    assert book.refused == {("gw-1", "s2"), ("gw-1", "s3")}
    assert book.accept(_unit(1, 2, stream="s2"), 0) is None  # a refused stream stores nothing
    # Known streams are not counted again, nor admitted twice.
    book.accept(_unit(1, 2, stream="s0"), 0)
    assert book.known(("gw-1", "s0")) and not book.known(("gw-1", "s9"))
    assert book.admit([("gw-1", "s0")], {"gw-1": cap}) == []
    assert ("gw-1", "s0") not in book.refused


def test_rows_carry_ranges_counts_and_times_and_load_back() -> None:
    book = StreamBook()
    book.accept(_unit(1, 3), 1000)
    book.accept(_unit(10, 12, drops=[(6, 7, "buffer_full")]), 5000)
    book.accept(_unit(2, 2), 3000)  # a late resend: last seen stays the latest
    (row,) = book.rows()
    assert row[:2] == ("gw-1", "s1")
    assert json.loads(row[2]) == [[1, 3], [10, 12]]
    assert json.loads(row[3]) == [[6, 7, "buffer_full"]]
    assert row[4:6] == (1000, 5000)
    assert row[6:] == (4, 2)  # gaps 4, 5, 8, 9; dropped 6, 7
    again = StreamBook()
    again.load([row])
    assert again.accept(_unit(1, 12), 6000) == [
        e for e in _unit(1, 12).events if e.seq in (4, 5, 6, 7, 8, 9)
    ]
    (after,) = again.rows()
    assert json.loads(after[2]) == [[1, 12]] and after[4:] == (1000, 6000, 0, 0)


def test_rows_list_only_the_streams_touched_in_order() -> None:
    book = StreamBook()
    book.load([("gw-1", "old", "[[1, 5]]", "[]", 10, 20)])
    assert book.rows() == []
    book.accept(_unit(1, 1, stream="b"), 0)
    book.accept(_unit(1, 1, stream="a"), 0)
    assert [r[1] for r in book.rows()] == ["a", "b"]


def test_counts_saturate_at_the_stored_maximum() -> None:
    assert saturated(5) == 5
    assert saturated(L.MAX_STREAM_COUNT) == L.MAX_STREAM_COUNT
    assert saturated(L.MAX_STREAM_COUNT + 1) == L.MAX_STREAM_COUNT


def test_recent_ids_remember_the_last_half_capacity() -> None:
    ids = RecentIds(capacity=10)
    events = [_event(i) for i in range(23)]
    ids.add(events[:12])  # generations of 5: the last 5 to 10 added are remembered
    assert all(ids.seen(RecentIds.key(e)) for e in events[7:12])
    ids.add(events[12:23])
    remembered = [i for i, e in enumerate(events) if ids.seen(RecentIds.key(e))]
    assert remembered[-5:] == [18, 19, 20, 21, 22] and 5 <= len(remembered) <= 10
    assert not ids.seen(RecentIds.key(events[0]))
    # The key is the (device, event id) pair: the same id from another device is new.
    assert not ids.seen(RecentIds.key(_event(22, device="gw-2")))


def test_recent_ids_start_empty_and_stay_within_capacity() -> None:
    assert not RecentIds().seen(RecentIds.key(_event(1)))
    for capacity in (2, 3, 10):
        ids = RecentIds(capacity=capacity)
        events = [_event(i) for i in range(51)]  # odd: the current generation is not empty
        ids.add(events)
        remembered = sum(ids.seen(RecentIds.key(e)) for e in events)
        assert capacity // 2 <= remembered <= capacity, capacity


def test_a_drop_range_is_kept_once_and_ranges_are_capped() -> None:
    book = StreamBook()
    book.accept(_unit(1, 1, drops=[(5, 6, "buffer_full")]), 0)
    book.accept(_unit(1, 1, drops=[(5, 6, "buffer_full"), (5, 6, "expired")]), 1)
    (row,) = book.rows()
    assert json.loads(row[3]) == [[5, 6, "buffer_full"], [5, 6, "expired"]]
    # At most MAX_DROP_RANGES (1000) distinct ranges per stream; the rest show up as gaps.
    many = [(10 + 2 * i, 10 + 2 * i, "buffer_full") for i in range(1001)]
    book.accept(_unit(1, 1, drops=many), 2)
    (row,) = book.rows()
    assert len(json.loads(row[3])) == 1000
