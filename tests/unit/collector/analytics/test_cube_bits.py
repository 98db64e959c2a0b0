"""The day-bitmap primitives of the PES engine (cube.py): "active between a and b" and "active
days in [a, b]" read straight from packed 64-day words, checked against unpacking every bit
(the plain way) on random words and on ranges at and across block edges."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from collector.analytics.bits import bits_between, count_between, unpack
from collector.analytics.cube import (
    Members,
    feature_counts,
    members,
    needed_range,
    period_stats,
    windows,
)
from collector.analytics.params import PesParams
from collector.storage.bitmaps import BLOCK_DAYS
from tests.kits.analytics import Event, state_from_events

LO = 64 * 11_500  # ordinal of bit 0 of column 0: a block boundary, as in a real cube


def words_of(days: list[set[int]], blocks: int) -> np.ndarray:
    """Rows of packed words from sets of day offsets (bit k of word b is day 64*b + k)."""
    out = np.zeros((len(days), blocks), np.uint64)
    for r, ds in enumerate(days):
        for d in ds:
            out[r, d // BLOCK_DAYS] |= np.uint64(1 << (d % BLOCK_DAYS))
    return out


def test_unpack_puts_bit_k_of_word_b_on_day_64b_plus_k() -> None:
    w = words_of([{0, 63, 64, 127}, {5}, set()], 2)
    days = unpack(w)
    assert days.shape == (3, 128) and days.dtype == np.bool_
    assert np.flatnonzero(days[0]).tolist() == [0, 63, 64, 127]
    assert np.flatnonzero(days[1]).tolist() == [5]
    assert not days[2].any()


EDGES = [0, 1, 62, 63, 64, 65, 127, 128, 190, 191]
RANGES = [(a, b) for a in EDGES for b in EDGES if a <= b] + [
    (-10, 5), (-10, -1), (150, 400), (192, 300), (-5, 500), (10, 9), (100, 0),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), RANGES)
def test_between_agrees_with_the_unpacked_days(a: int, b: int) -> None:
    rng = random.Random(a * 1000 + b)
    days: list[set[int]] = [set()] + [{d} for d in EDGES] + [
        {d for d in range(192) if rng.random() < p} for p in (0.02, 0.2, 0.9, 1.0)
    ]  # fmt: skip
    w = words_of(days, 3)
    flat = unpack(w)
    lo, hi = max(a, 0), min(b, 191)
    expect_count = flat[:, lo : hi + 1].sum(axis=1) if lo <= hi else np.zeros(len(days))
    got_count = count_between(w, LO, LO + a, LO + b)
    assert got_count.dtype == np.int64
    assert got_count.tolist() == [int(x) for x in expect_count]
    got_any = bits_between(w, LO, LO + a, LO + b)
    assert got_any.dtype == np.bool_
    assert got_any.tolist() == [bool(x) for x in expect_count > 0]


def test_a_single_day_is_only_that_day() -> None:
    w = words_of([{63}, {64}, {63, 64}], 2)
    assert count_between(w, LO, LO + 63, LO + 63).tolist() == [1, 0, 1]
    assert count_between(w, LO, LO + 64, LO + 64).tolist() == [0, 1, 1]
    assert count_between(w, LO, LO + 63, LO + 64).tolist() == [1, 1, 2]
    assert bits_between(w, LO, LO + 62, LO + 62).tolist() == [False, False, False]


def test_a_range_running_backwards_in_one_block_is_empty() -> None:
    w = words_of([set(range(64))], 1)
    assert count_between(w, LO, LO + 20, LO + 5).tolist() == [0]
    assert bits_between(w, LO, LO + 20, LO + 5).tolist() == [False]


def one_device(days: list[date]) -> Members:
    events: list[Event] = [
        {"id": f"e{k}", "device_id": "d1", "account_id": "a", "device_type": "t",
         "firmware_version": "1", "kind": "session_start", "feature": None,
         "ts": f"{d.isoformat()}T12:00:00Z"}
        for k, d in enumerate(days)
    ]  # fmt: skip
    lo, hi = date(2026, 3, 1).toordinal(), date(2026, 3, 31).toordinal()
    cube = state_from_events(events).view(lo, hi)
    return members(cube, [], "device")


def test_windows_are_trailing_and_refuse_days_outside_the_cube() -> None:
    mem = one_device([date(2026, 3, 10), date(2026, 3, 20)])
    lo, hi = mem.lo, mem.hi
    assert (date.fromordinal(lo), date.fromordinal(hi)) == (date(2026, 3, 1), date(2026, 3, 31))
    start = date(2026, 3, 9).toordinal()
    # Active on some day of [d - 2, d], for d = 9, 10, ..., 13 March.
    got = windows(mem, start, start + 4, 3)
    assert got.dtype == np.bool_
    assert got.tolist() == [[False, True, True, True, False]]
    assert windows(mem, lo + 2, hi, 3).shape == (1, hi - lo - 1)  # the first window at lo
    for a, b in ((lo + 1, hi), (lo + 2, hi + 1)):
        with pytest.raises(ValueError) as exc:
            windows(mem, a, b, 3)
        assert str(exc.value) == "the cube does not reach back far enough for this period"


def test_feature_counts_count_a_feature_only_where_it_is_core() -> None:
    # press-x core {calibrate}, lathe-9 core {jog}. p1 and p2 are press-x, l1 a lathe; p1 also
    # used jog, which is no press-x's to adopt: not counted for the press-x segment.
    day = date(2026, 3, 10)
    events: list[Event] = []
    for dev, dtype, feats in (("p1", "press-x", ["calibrate", "jog"]), ("p2", "press-x", []),
                              ("l1", "lathe-9", ["jog"])):  # fmt: skip
        base = {"account_id": "a", "device_type": dtype, "firmware_version": "1",
                "ts": f"{day.isoformat()}T12:00:00Z", "device_id": dev}  # fmt: skip
        events.append({**base, "id": f"{dev}-s", "kind": "session_start", "feature": None})
        events += [{**base, "id": f"{dev}-{f}", "kind": "feature_use", "feature": f} for f in feats]
    params = PesParams(day, day, core_features={"press-x": ["calibrate"], "lathe-9": ["jog"]})
    cube = state_from_events(events).view(*needed_range(params))
    st = period_stats(cube, members(cube, ["device_type"], "device"), params)
    assert st.mem.segments == [("lathe-9",), ("press-x",)] and st.vocab == ["calibrate", "jog"]
    users, eligible = feature_counts(st)
    assert eligible == [[0, 1], [2, 0]]
    assert users == [[0, 1], [1, 0]]
    # Counts, shown as such by the API (1, not 1.0).
    assert {type(v) for row in users + eligible for v in row} == {int}
    whole = period_stats(cube, members(cube, [], "device"), params)  # one mixed segment
    assert feature_counts(whole) == ([[1, 1]], [[2, 1]])


def test_one_entity_in_two_segments_is_a_member_of_each() -> None:
    # A single device whose firmware changed mid-period: one member per firmware segment.
    events: list[Event] = [
        {"id": f"e{k}", "device_id": "d1", "account_id": "a", "device_type": "t",
         "firmware_version": fw, "kind": "session_start", "feature": None,
         "ts": f"2026-03-{day:02d}T12:00:00Z"}
        for k, (fw, day) in enumerate([("1.0", 9), ("1.0", 10), ("2.0", 12)])
    ]  # fmt: skip
    params = PesParams(date(2026, 3, 8), date(2026, 3, 14))
    cube = state_from_events(events).view(*needed_range(params))
    mem = members(cube, ["firmware_version"], "device")
    assert mem.segments == [("1.0",), ("2.0",)]
    assert mem.entity == ["d1", "d1"]
    assert mem.seg.tolist() == [0, 1] and mem.starts.tolist() == [0, 1]
    assert mem.days_between(params.start.toordinal(), params.end.toordinal()).tolist() == [2, 1]


def test_a_period_needs_a_month_of_history_before_it() -> None:
    events: list[Event] = [
        {"id": "e1", "device_id": "d1", "account_id": "a", "device_type": "t",
         "firmware_version": "1", "kind": "session_start", "feature": None,
         "ts": "2026-03-10T12:00:00Z"}
    ]  # fmt: skip
    params = PesParams(date(2026, 3, 8), date(2026, 3, 14))  # L = 7: the MAU window decides
    lo, hi = needed_range(params)
    assert lo == params.start.toordinal() - 29
    state = state_from_events(events)
    cube = state.view(lo, hi)
    period_stats(cube, members(cube, [], "device"), params)  # exactly enough
    for short in (state.view(lo + 1, hi), state.view(lo, hi - 1)):
        with pytest.raises(ValueError) as exc:
            period_stats(short, members(short, [], "device"), params)
        assert str(exc.value) == "the cube does not cover this period"
