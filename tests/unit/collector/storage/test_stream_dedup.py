"""StreamBook.accept is the only dedup of stream events: an event whose sequence number its
stream has already received is a resend and is not stored again."""

from __future__ import annotations

import random

from collector.records import AckTarget, EventRow, ParsedMessage
from collector.storage.streams import StreamBook


def _event(seq: int, stream: str = "s1") -> EventRow:
    return EventRow(
        "gw-1", f"id-{stream}-{seq}", stream, seq, "feature_use", "jog", None, None, 1000 + seq,
        1000 + seq, "wall", "2026-03-14", "press-x", "2.1", "acme", "{}", "{}",
    )  # fmt: skip


def _unit(
    first: int, last: int, seqs: list[int] | None = None, stream: str = "s1"
) -> ParsedMessage:
    target = AckTarget("gw-1", stream, first, last)
    events = [_event(s, stream) for s in (range(first, last + 1) if seqs is None else seqs)]
    return ParsedMessage(events=events, ack=target, stream=target)


def _seqs(rows: list[EventRow] | None) -> list[int | None]:
    assert rows is not None  # None: a refused stream, which none of these is
    return [r.seq for r in rows]


def test_a_resent_batch_is_not_stored_again() -> None:
    book = StreamBook()
    assert _seqs(book.accept(_unit(1, 5), 0)) == [1, 2, 3, 4, 5]
    assert book.accept(_unit(1, 5), 1) == []
    # An overlapping batch keeps only the new part.
    assert _seqs(book.accept(_unit(4, 8), 2)) == [6, 7, 8]


def test_a_late_batch_fills_a_hole_once() -> None:
    book = StreamBook()
    book.accept(_unit(1, 3), 0)
    book.accept(_unit(7, 9), 0)
    assert _seqs(book.accept(_unit(4, 6), 1)) == [4, 5, 6]
    assert book.accept(_unit(2, 8), 2) == []


def test_a_sequence_number_twice_in_one_batch_is_stored_once() -> None:
    book = StreamBook()
    assert _seqs(book.accept(_unit(1, 3, [1, 2, 2, 3]), 0)) == [1, 2, 3]


def test_streams_are_deduplicated_apart() -> None:
    book = StreamBook()
    book.accept(_unit(1, 3, stream="a"), 0)
    assert _seqs(book.accept(_unit(1, 3, stream="b"), 0)) == [1, 2, 3]
    assert book.accept(_unit(1, 3, stream="a"), 0) == []


def test_against_a_set_of_seen_numbers() -> None:
    rng = random.Random(5)
    for _ in range(200):
        book = StreamBook()
        seen: set[int] = set()
        for _ in range(rng.randint(1, 12)):
            first = rng.randint(1, 40)
            last = first + rng.randint(0, 8)
            stored = _seqs(book.accept(_unit(first, last), 0))
            want = [s for s in range(first, last + 1) if s not in seen]
            assert stored == want
            seen.update(range(first, last + 1))
