"""CubeState fed the stores' packed rows (int64 arrays) computes what it computes from row
tuples: the same snapshots, refresh after refresh (torn reads included), and a clear error
for a combination that was never named."""

from __future__ import annotations

import random

import numpy as np
import pytest

from collector.analytics.state import CubeState, _first_days
from collector.storage.bitmaps import Changes, ComboRow, FeatureNameRow
from tests.kits.analytics import random_fleet, torn_refreshes


def as_arrays(changes: Changes) -> Changes:
    return Changes(
        np.array(changes.activity, np.int64).reshape(-1, 3),
        np.array(changes.feature_bits, np.int64).reshape(-1, 4),
        changes.cursor,
    )


@pytest.mark.parametrize("seed", range(4))
def test_arrays_and_tuples_give_the_same_snapshots(seed: int) -> None:
    refreshes = torn_refreshes(random_fleet(random.Random(seed), devices=15), 3)
    tuples, arrays = CubeState(), CubeState()
    for combos, features, changes in refreshes:
        packed = as_arrays(changes)
        missing = tuples.missing(changes)
        assert arrays.missing(packed) == missing
        for state, ch in ((tuples, changes), (arrays, packed)):
            state.add_names(*_named(combos, features, missing))
            state.apply(ch)
        a, b = tuples.snapshot, arrays.snapshot
        assert a.block0 == b.block0 and a.features == b.features and a.vocab == b.vocab
        for field in ("act", "first", "f_combo", "f_feat", "f_words"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
        assert all(np.array_equal(a.codes[k], b.codes[k]) for k in a.codes)


def _named(
    combos: list[ComboRow], features: list[FeatureNameRow], missing: tuple[list[int], list[int]]
) -> tuple[list[ComboRow], list[FeatureNameRow]]:
    want_c, want_f = set(missing[0]), set(missing[1])
    return [c for c in combos if c[0] in want_c], [f for f in features if f[0] in want_f]


def test_rows_of_an_unnamed_combination_are_refused() -> None:
    state = CubeState()
    state.add_names([(1, "d1", "a", "t", "1.0", "{}")], [(1, "f")])
    with pytest.raises(KeyError, match="add_names"):
        state.apply(Changes(np.array([[2, 11_540, 1]], np.int64), [], (1, 1)))
    state.apply(Changes(np.array([[1, 11_540, 1]], np.int64), [(1, 1, 11_540, 1)], (1, 1)))
    assert len(state.snapshot.first) == 1 and len(state.snapshot.f_combo) == 1


@pytest.mark.parametrize("seed", range(4))
def test_first_days_kept_for_the_written_rows_equal_a_full_pass(seed: int) -> None:
    """`first` is recomputed only for the rows a refresh writes or adds: after every refresh
    (torn reads, new combinations, a row rewritten with an earlier or a later first day, an
    earlier history block), it equals _first_days over every row, and an earlier snapshot's
    `first` is left as it was."""
    rng = random.Random(40 + seed)
    state = CubeState()
    refreshes = torn_refreshes(random_fleet(rng, devices=12), 4)
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    for n, (combos, features, changes) in enumerate(refreshes):
        state.add_names(combos, features)
        state.apply(changes)
        snap = state.snapshot
        kept.append((snap.first, snap.first.copy()))
        assert np.array_equal(snap.first, _first_days(snap.act, snap.block0)), n
    # Rewrites of single rows: a bit earlier, bit 63 (signed, as stores give it), a row
    # emptied, an earlier block.
    ids = sorted(state.rows)
    for k, (block, word) in enumerate([(None, 1), (None, -(1 << 63)), (None, 0), (-1, 1 << 5)]):
        combo = ids[(7 * k) % len(ids)]
        b = state.block0 + (0 if block is None else block)
        state.apply(Changes([(combo, b, word)], [], (100 + k, 100 + k)))
        snap = state.snapshot
        kept.append((snap.first, snap.first.copy()))
        assert np.array_equal(snap.first, _first_days(snap.act, snap.block0)), k
    for first, copy in kept:
        assert np.array_equal(first, copy), "a published snapshot never changes"
