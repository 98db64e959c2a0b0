"""CubeState's snapshots: a request computes on one consistent version of the analytics tables,
whatever refreshes run between its steps.

The refreshes here are the ones a live collector sees (tests.kits.analytics.torn_refreshes): new
combinations arriving while a request is under way, feature rows a refresh ahead of activity."""

from __future__ import annotations

import random

import numpy as np
import pytest

from collector.analytics.cube import aggregate, members, needed_range, period_stats
from collector.analytics.params import PesParams, PesResult
from collector.analytics.state import CubeState, Snapshot
from collector.storage.bitmaps import Changes, ComboRow, FeatureNameRow
from tests.kits.analytics import (
    assert_same,
    merged,
    random_fleet,
    random_params,
    reference_pes,
    state_from_events,
    torn_refreshes,
)

B = 739_000 // 64  # a block in 2024
PROBE = (1, "d1", "a", "probe", "p1", "{}")


def pes(snapshot: Snapshot, params: PesParams, group_by: list[str], entity: str,
        filters: dict[str, str] | None = None) -> list[PesResult]:  # fmt: skip
    cube = snapshot.view(*needed_range(params), filters)
    return aggregate(period_stats(cube, members(cube, group_by, entity), params))


def test_combination_with_feature_rows_only_keeps_the_cube_consistent() -> None:
    # The e2e bench's HTTP 500: the new combination's feature row was read, its activity row
    # not yet; `first` kept its old length and the filter's mask broadcast against the codes.
    state = CubeState()
    state.add_names([PROBE], [(1, "probe")])
    state.apply(Changes([(1, B, 1)], [(1, 1, B, 1)], (1, 1)))
    assert len(state.view(64 * B, 64 * B + 63, {"device_type": "probe"})) == 1  # a request
    state.add_names([(2, "d2", "a", "probe", "p2", "{}")], [])
    state.apply(Changes([], [(2, 1, B, 1 << 3)], (1, 2)))
    cube = state.view(64 * B, 64 * B + 63, {"device_type": "probe"})
    assert len(cube) == 2 and cube.words.shape == (2, 1)
    assert cube.first.tolist() == [64 * B, np.iinfo(np.int64).max]  # no activity read yet
    assert cube.codes["firmware_version"].tolist() == [0, 1]
    # Its activity row, one refresh later, gives it its first day.
    state.apply(Changes([(2, B, 1 << 3)], [], (2, 2)))
    assert state.view(64 * B, 64 * B + 63).first.tolist() == [64 * B, 64 * B + 3]


def test_a_snapshot_does_not_change_when_the_state_is_refreshed() -> None:
    state = CubeState()
    state.add_names([PROBE], [(1, "probe")])
    state.apply(Changes([(1, B, 1)], [(1, 1, B, 1)], (1, 1)))
    old = state.snapshot
    kept = {k: np.array(getattr(old, k)) for k in ("act", "first", "f_combo", "f_feat", "f_words")}
    names = {a: list(v) for a, v in old.vocab.items()}
    # Overwrite the existing rows, add a combination, a feature, a block on each side.
    state.add_names([(2, "d2", "b", "probe", "p2", '{"site":"x"}')], [(2, "other")])
    state.apply(Changes([(1, B, 3), (2, B - 1, 1), (2, B + 1, 1)],
                        [(1, 1, B, 3), (2, 2, B + 1, 1)], (2, 2)))  # fmt: skip
    for k, before in kept.items():
        assert np.array_equal(getattr(old, k), before), k
    assert {a: list(v) for a, v in old.vocab.items()} == names and old.features == ["probe"]
    assert old.block0 == B and state.snapshot.block0 == B - 1
    assert len(state.snapshot.first) == 2 and state.snapshot.act.shape == (2, 3)
    with pytest.raises(ValueError, match="read-only"):
        old.act[0, 0] = 0


def _in_one_go(names: list[ComboRow], features: list[FeatureNameRow], rows: Changes) -> Snapshot:
    state = CubeState()
    state.add_names(names, features)
    state.apply(rows)
    return state.snapshot


QUERIES = [(["firmware_version"], "device", {"device_type": "press-x"}),
           (["device_type", "label:site"], "account", None), ([], "device", None)]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_refreshes_between_the_steps_of_requests(seed: int) -> None:
    """A request holds its snapshot across a refresh that brings new combinations, feature
    rows alone, new firmware: its rows are those of its own version (the same rows applied to
    a new state in one go), never a mix, and every version answers filters."""
    rng = random.Random(seed)
    events = random_fleet(rng, devices=10)
    params = random_params(rng)
    refreshes = torn_refreshes(events, 4)
    all_names = {c[0]: c for c in refreshes[-1][0]}
    state = CubeState()
    expected: dict[tuple[int, int], list[PesResult]] = {}  # per query, the held version's rows
    for step, (_, features, changes) in enumerate(refreshes):
        for k, (group_by, entity, filters) in enumerate(QUERIES):
            cube = state.snapshot.view(*needed_range(params), filters)  # a request starts
            if k == 0:  # the refresh runs between the request's view and its computation
                combos, _ = state.missing(changes)
                state.add_names([all_names[c] for c in combos], features)
                state.apply(changes)
            got = aggregate(period_stats(cube, members(cube, group_by, entity), params))
            if k == 0:
                assert_same(got, expected.get((step - 1, k), []))
            expected[step, k] = pes(state.snapshot, params, group_by, entity, filters)
            if k:
                assert_same(got, expected[step, k])
            so_far = merged([c for _, _, c in refreshes[: step + 1]])
            one_go = _in_one_go(list(all_names.values()), features, so_far)
            assert_same(expected[step, k], pes(one_go, params, group_by, entity, filters))
    # Caught up, the state gives the reference's rows.
    for group_by, entity, filters in QUERIES:
        assert_same(pes(state.snapshot, params, group_by, entity, filters),
                    reference_pes(events, group_by, entity, params, filters=filters))  # fmt: skip


def test_incremental_state_still_matches_the_two_step_build() -> None:
    events = random_fleet(random.Random(5))
    params = random_params(random.Random(6))
    assert_same(pes(state_from_events(events).snapshot, params, ["device_type"], "device"),
                reference_pes(events, ["device_type"], "device", params))  # fmt: skip
