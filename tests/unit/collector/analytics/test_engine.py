"""collector.analytics (state + cube) against the brute-force reference over raw events."""

from __future__ import annotations

import itertools
import random
from datetime import date

import numpy as np
import pytest

from collector.analytics.arrays import unpack_row
from collector.analytics.bits import any_between
from collector.analytics.cube import aggregate, members, needed_range, period_stats
from collector.analytics.params import PesParams, PesResult
from collector.analytics.state import CubeState
from collector.storage.bitmaps import Changes
from tests.kits.analytics import (
    analytics_rows,
    assert_same,
    random_fleet,
    random_params,
    reference_pes,
    state_from_events,
)

GROUP_BYS: list[list[str]] = [
    [],
    ["device_type"],
    ["firmware_version"],
    ["device_type", "firmware_version"],
    ["label:site"],
    ["device_type", "label:site"],
]


def pes_of(
    state: CubeState,
    params: PesParams,
    group_by: list[str],
    entity: str,
    filters: dict[str, str] | None = None,
) -> list[PesResult]:
    cube = state.view(*needed_range(params), filters)
    return aggregate(period_stats(cube, members(cube, group_by, entity), params))


@pytest.mark.parametrize("seed", range(12))
def test_pes_matches_reference_on_random_fleets(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    state = state_from_events(events)
    for group_by, entity, mode in itertools.product(
        GROUP_BYS, ("device", "account"), ("dau_mau", "dau_wau", "wau_mau")
    ):
        params = random_params(rng, mode)
        assert_same(
            pes_of(state, params, group_by, entity), reference_pes(events, group_by, entity, params)
        )


@pytest.mark.parametrize("seed", range(6))
def test_filters_match_reference(seed: int) -> None:
    rng = random.Random(100 + seed)
    events = random_fleet(rng)
    state = state_from_events(events)
    for filters in (
        {"device_type": "press-x"},
        {"firmware_version": "1.0"},
        {"account_id": "acct1"},
        {"device_type": "lathe-9", "account_id": "acct0"},
    ):
        params = random_params(rng)
        for group_by in (["firmware_version"], []):
            assert_same(
                pes_of(state, params, group_by, "device", filters),
                reference_pes(events, group_by, "device", params, filters=filters),
            )


def test_words_days_and_first_day_hand_computed() -> None:
    # Day ordinals 64*100 + {0, 5, 63} in block 100 (bit 63 makes the word negative) and
    # 64*101 + 2 in block 101; combination 7's first day is 64*100.
    b = 100
    word = (1 << 0) | (1 << 5) | (1 << 63)
    changes = Changes(
        activity=[(7, b, word - (1 << 64)), (7, b + 1, 1 << 2), (8, b + 1, 1 << 40)],
        feature_bits=[(7, 1, b, 1 << 5)],
        cursor=(3, 1),
    )
    state = CubeState()
    state.add_names([(7, "d7", "a", "t", "1", "{}"), (8, "d8", "a", "t", "1", "{}")], [(1, "f")])
    state.apply(changes)
    assert state.first().tolist() == [64 * b, 64 * (b + 1) + 40]
    cube = state.view(64 * b, 64 * b + 70)
    assert cube.lo == 64 * b and cube.n_days == 128
    assert np.flatnonzero(unpack_row(cube.words[0])).tolist() == [0, 5, 63, 66]
    assert any_between(cube, cube.words, 64 * b + 6, 64 * b + 62).tolist() == [False, False]
    assert any_between(cube, cube.words, 64 * b + 60, 64 * b + 63).tolist() == [True, False]
    assert any_between(cube, cube.words, 64 * b + 64, 64 * b + 127).tolist() == [True, True]
    assert any_between(cube, cube.f_words, 64 * b + 5, 64 * b + 5).tolist() == [True]
    # A late event in an earlier block moves first(e) back; the state grows to the left.
    state.apply(Changes([(8, b - 2, 1 << 1)], [], (4, 1)))
    assert state.block0 == b - 2 and state.first().tolist() == [64 * b, 64 * (b - 2) + 1]
    assert state.view(64 * b, 64 * b + 70).words[0, 0] == np.uint64(word)


def test_rows_applied_twice_or_in_pieces_give_the_same_state() -> None:
    events = random_fleet(random.Random(5))
    combos, features, changes = analytics_rows(events)
    once = CubeState()
    once.add_names(combos, features)
    once.apply(changes)
    twice = state_from_events(events)  # older half first, then everything again
    params = PesParams(date(2026, 2, 1), date(2026, 2, 14))
    for state in (once, twice):
        assert_same(
            pes_of(state, params, ["device_type"], "account"),
            reference_pes(events, ["device_type"], "account", params),
        )


def test_period_outside_the_cube_is_refused() -> None:
    state = state_from_events(random_fleet(random.Random(1)))
    params = PesParams(date(2026, 2, 1), date(2026, 2, 28))
    cube = state.view(params.start.toordinal(), params.end.toordinal())  # no room for P'
    with pytest.raises(ValueError, match="does not cover"):
        period_stats(cube, members(cube, [], "device"), params)
    assert needed_range(params) == (params.start.toordinal() - 29, params.end.toordinal())
    long = PesParams(date(2026, 1, 1), date(2026, 3, 1))
    assert needed_range(long)[0] == long.start.toordinal() - long.length


def test_more_than_64_device_types_and_features() -> None:
    # The member's set of device types is packed into bytes; past 64 types the key is longer.
    events = []
    for k in range(70):
        for d in (3, 9):
            day = date(2026, 3, d)
            events.append(
                {
                    "id": f"e{k}-{d}",
                    "device_id": f"d{k % 7}",
                    "account_id": "acme",
                    "device_type": f"type-{k}",
                    "firmware_version": "1.0",
                    "kind": "feature_use",
                    "feature": f"f{k}-{d % 2}",
                    "ts": f"{day.isoformat()}T12:00:00Z",
                }
            )
    params = PesParams(date(2026, 3, 5), date(2026, 3, 11))
    state = state_from_events(events)
    for entity in ("device", "account"):
        assert_same(pes_of(state, params, [], entity), reference_pes(events, [], entity, params))
