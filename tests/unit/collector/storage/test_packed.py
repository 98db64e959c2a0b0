"""The decoders of the packed release reads (collector/storage/packed.py) where the store tests
cannot reach: ties that need the row read, malformed text, sums of a day in several rows."""

from __future__ import annotations

import numpy as np
import pytest

from collector.storage.packed import SEP, day_ordinals, ints, runs_of, split, uses_of


def a(*values: int) -> np.ndarray:
    return np.asarray(values, np.int64)


def test_runs_sorted_by_device_name_then_first_timestamp() -> None:
    got = runs_of(SEP.join("bab"), SEP.join("xyx"), SEP.join("123"), (a(5, 9, 2), a(50, 90, 20),
                  a(51, 91, 21)), 7)  # fmt: skip
    assert got is not None and got.cursor == 7
    assert [got.devices[int(d)] for d in got.device] == ["a", "b", "b"]
    assert [got.firmwares[int(f)] for f in got.firmware] == ["2", "3", "1"]
    assert got.first_day.tolist() == [90, 20, 50] and got.last_day.tolist() == [91, 21, 51]


def test_runs_of_a_device_starting_at_one_timestamp_need_the_row_read() -> None:
    assert runs_of(SEP.join("bb"), SEP.join("xx"), SEP.join("12"), (a(5, 5), a(1, 1), a(1, 1)),
                   0) is None  # fmt: skip
    assert runs_of(SEP.join("ab"), SEP.join("xx"), SEP.join("12"), (a(5, 5), a(1, 1), a(1, 1)),
                   0) is not None  # fmt: skip


def test_names_holding_the_separator_do_not_split() -> None:
    assert split(SEP.join(["a", "b"]), 2) == ["a", "b"]
    assert split(SEP.join(["a", f"b{SEP}c"]), 2) is None
    assert split(None, 0) == [] and split("", 1) == [""]


def test_uses_summed_per_device_and_day() -> None:
    got = uses_of(SEP.join(["d1", "d2"]), a(3, 1), a(10, 11, 10, 10), a(2, 5, 1, 4))
    assert got is not None
    assert got.names == ["d1", "d2"] and got.counts.tolist() == [2, 1]
    assert got.day.tolist() == [10, 11, 10] and got.uses.tolist() == [3, 5, 4]
    assert uses_of("d1", a(2), a(10), a(1)) is None  # counts disagree with the rows


def test_days_and_integers_parsed() -> None:
    got = day_ordinals("2026-03-022026-03-012026-03-02", 3)
    assert got is not None and got.tolist() == [739677, 739676, 739677]
    assert day_ordinals("2026-03-02", 2) is None and day_ordinals("2026-13-02", 1) is None
    assert day_ordinals("2026/03/02", 1) is None and day_ordinals("20x6-03-02", 1) is None
    far = day_ordinals("0001-01-019999-12-31", 2)  # beyond the table: sorted instead
    assert far is not None and far.tolist() == [1, 3652059]
    assert day_ordinals("", 0) is not None
    assert ints("3,-1,40").tolist() == [3, -1, 40] and ints(None).tolist() == []
    with pytest.raises(ValueError):
        ints("3,x,4")
