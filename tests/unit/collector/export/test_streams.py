"""Per-day stream delivery: each missing sequence number reported once, on the day of the next
event delivered after it, as a gap or as the agent's declared drop."""

from __future__ import annotations

import json

from collector.export.streams import DaySeqs, snapshot_rows, stream_days, stream_states
from collector.storage import StreamRow


def _row(received: list[list[int]], dropped: list[list[object]]) -> StreamRow:
    return ("d1", "s1", json.dumps(received), json.dumps(dropped), 1, 2, 0, 0)


# Received 1-3 (day 1), 6-7 and 10 (day 2); 4-5 never came (gap); 8-9 dropped by the agent
# (buffer full); 11-12 declared dropped after the last received event.
STATE = stream_states([_row([[1, 3], [6, 7], [10, 10]], [[8, 9, "buffer_full"],
                                                         [11, 12, "buffer_full"]])])  # fmt: skip


def day(*seqs: int) -> dict[tuple[str, str], list[tuple[int, int]]]:
    acc = DaySeqs()
    for seq in seqs:
        acc.add("d1", "s1", seq)
    return acc.received()


def test_day_seqs_keep_ranges_whatever_the_order() -> None:
    assert day(1, 2, 3, 7, 8, 5) == {("d1", "s1"): [(1, 3), (5, 5), (7, 8)]}
    shuffled = [(i * 37) % 200 + 1 for i in range(200)]  # 1..200, far out of order
    assert day(*shuffled) == {("d1", "s1"): [(1, 200)]}
    assert day(4, 4, 3) == {("d1", "s1"): [(3, 4)]}


def test_holes_are_reported_on_the_day_the_stream_resumed() -> None:
    (day1,) = stream_days(day(1, 2, 3), STATE)
    assert (day1.first_seq, day1.last_seq, day1.events) == (1, 3, 3)
    assert day1.received == [(1, 3)] and day1.gaps == [] and day1.dropped == []
    (day2,) = stream_days(day(6, 7, 10, 7), STATE)
    assert day2.events == 3 and day2.received == [(6, 7), (10, 10)]
    assert day2.gaps == [(4, 5)]
    assert day2.dropped == [(8, 9, "buffer_full")]
    row = day2.as_row()
    assert row["gap_events"] == 2 and row["dropped_events"] == 2
    assert row["gaps"] == [{"first": 4, "last": 5}]


def test_a_stream_starting_after_one_reports_the_numbers_before_it_as_gap() -> None:
    state = stream_states([_row([[3, 4]], [])])
    (only,) = stream_days(day(3, 4), state)
    assert only.gaps == [(1, 2)]


def test_snapshot_keeps_the_trailing_drops_and_counts_received_drops_as_received() -> None:
    (snap,) = snapshot_rows([_row([[1, 5]], [[4, 8, "buffer_full"]])])
    assert snap["received"] == [{"first": 1, "last": 5}]
    assert snap["dropped"] == [{"first": 6, "last": 8, "reason": "buffer_full"}]
    assert snap["dropped_events"] == 3 and snap["gap_events"] == 0
    drops: list[list[object]] = [[8, 9, "buffer_full"], [11, 12, "buffer_full"]]
    (full,) = snapshot_rows([_row([[1, 3], [6, 7], [10, 10]], drops)])
    assert full["gaps"] == [{"first": 4, "last": 5}] and full["dropped_events"] == 4
