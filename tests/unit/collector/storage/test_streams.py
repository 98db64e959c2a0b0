import random

from collector.records import AckTarget, ParsedMessage
from collector.storage.streams import (
    StreamBook,
    count,
    covers,
    dropped_unreceived,
    gaps,
    merge,
    subtract,
)


def test_merge_joins_overlapping_and_adjacent_ranges() -> None:
    assert merge([(5, 9), (1, 3)], (4, 4), (20, 30), (25, 26)) == [(1, 9), (20, 30)]
    assert merge([]) == []


def test_covers_uses_inclusive_bounds() -> None:
    r = [(1, 3), (10, 10)]
    assert [s for s in range(0, 12) if covers(r, s)] == [1, 2, 3, 10]


def test_subtract_and_gaps() -> None:
    assert subtract([(1, 10)], [(3, 4), (8, 20)]) == [(1, 2), (5, 7)]
    assert gaps([(1, 3), (7, 9), (12, 12)]) == [(4, 6), (10, 11)]
    assert gaps([(1, 3), (7, 9)], dropped=[(4, 5)]) == [(6, 6)]
    assert gaps([(5, 6)]) == [(1, 4)]  # the start of the stream never arrived
    assert gaps([]) == []


def test_declared_drops_that_arrived_anyway_are_not_counted_as_dropped() -> None:
    # The agent dropped 2001-26425 from its buffer, but 2001-7960 had been sent and stored:
    # only their ack was lost. Counting them as dropped too would count them twice.
    received = [(1, 7960), (8231, 12360), (26426, 28980)]
    left = dropped_unreceived(received, [(2001, 26425)])
    assert left == [(7961, 8230), (12361, 26425)]
    assert count(left) + count(received) == 28980
    assert gaps(received, [(2001, 26425)]) == []


def test_a_drops_only_batch_counts_its_range_as_dropped_not_received() -> None:
    book = StreamBook()
    drops = [(1, 500, "overflow")]
    target = AckTarget("gw", "s-1", 1, 500)  # the agent's drops-only batch: no events
    assert book.accept(ParsedMessage(stream=target, drops=drops), 1_000) == []
    *_, gap_events, dropped_events = book.rows()[0]
    assert (gap_events, dropped_events) == (0, 500)


def test_against_sets_on_random_input() -> None:
    rng = random.Random(1)
    for _ in range(300):
        parts = [(a, a + rng.randrange(4)) for a in (rng.randrange(1, 60) for _ in range(6))]
        minus = merge((a, a + rng.randrange(4)) for a in (rng.randrange(1, 60) for _ in range(4)))
        got = merge(parts)
        want = {s for a, b in parts for s in range(a, b + 1)}
        assert {s for s in range(70) if covers(got, s)} == want
        assert count(got) == len(want)
        sub = {s for a, b in subtract(got, minus) for s in range(a, b + 1)}
        assert sub == want - {s for a, b in minus for s in range(a, b + 1)}
