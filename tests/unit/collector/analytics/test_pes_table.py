"""analytics.pes_table + analytics.segments (the PES table from per-segment state kept between
requests) against the reference over raw events and against the per-member path it replaces,
including after refreshes that the state takes in incrementally."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

import numpy as np
import pytest

from collector.analytics.cube import aggregate, members, needed_range, period_stats
from collector.analytics.feature_pairs import REBUILD_ABOVE, FeaturePairs
from collector.analytics.params import PesParams, PesResult
from collector.analytics.pes_table import pes_table, trend_tables
from collector.analytics.segments import SegmentState, SegmentStates, day_counts, window_words
from collector.analytics.state import CubeState, Snapshot
from collector.analytics.trend import periods, trend, trend_range
from collector.storage.bitmaps import Changes
from tests.kits.analytics import (
    analytics_rows,
    assert_same,
    random_fleet,
    random_params,
    reference_pes,
    state_from_events,
    torn_refreshes,
)

GROUP_BYS: list[tuple[str, ...]] = [
    (),
    ("device_type",),
    ("firmware_version",),
    ("device_type", "firmware_version"),
    ("label:site",),
    ("device_type", "label:site"),
]
MODES = ("dau_mau", "dau_wau", "wau_mau")


def table(
    snap: Snapshot,
    params: PesParams,
    group_by: tuple[str, ...],
    entity: str,
    filters: dict[str, str] | None = None,
    st: SegmentState | None = None,
) -> list[PesResult]:
    st = st or SegmentState(group_by, entity, tuple(sorted((filters or {}).items())))
    st.update(snap)
    return pes_table(st, snap, params)


def previous(
    snap: Snapshot,
    params: PesParams,
    group_by: tuple[str, ...],
    entity: str,
    filters: dict[str, str] | None = None,
) -> list[PesResult]:
    cube = snap.view(*needed_range(params), filters)
    return aggregate(period_stats(cube, members(cube, group_by, entity), params))


@pytest.mark.parametrize("seed", range(10))
def test_matches_reference_and_previous_path_on_random_fleets(seed: int) -> None:
    rng = random.Random(seed)
    events = random_fleet(rng)
    snap = state_from_events(events).snapshot
    for group_by, entity, mode in itertools.product(GROUP_BYS, ("device", "account"), MODES):
        params = random_params(rng, mode)
        got = table(snap, params, group_by, entity)
        assert_same(got, reference_pes(events, list(group_by), entity, params))
        assert_same(got, previous(snap, params, group_by, entity), tol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_filters_match_reference(seed: int) -> None:
    rng = random.Random(200 + seed)
    events = random_fleet(rng)
    snap = state_from_events(events).snapshot
    for filters in ({"device_type": "press-x"}, {"account_id": "acct1"}, {"label:site": "b"}):
        params = random_params(rng)
        for group_by in (("firmware_version",), ()):
            assert_same(
                table(snap, params, group_by, "device", filters),
                reference_pes(events, list(group_by), "device", params, filters=filters),
            )


@pytest.mark.parametrize("seed", range(4))
def test_state_kept_across_refreshes_follows_every_one(seed: int) -> None:
    """One SegmentState per grouping fed every refresh of a live collector (torn reads, new
    combinations, late rows): after each, the same table as a fresh state and the old path."""
    rng = random.Random(300 + seed)
    events = random_fleet(rng)
    state = CubeState()
    kept = {(g, e): SegmentState(g, e, ()) for g in GROUP_BYS[:4] for e in ("device", "account")}
    fixed = random_params(rng, "dau_mau")  # the same core sets each time: kept candidates
    for combos, features, changes in torn_refreshes(events, 5):
        state.add_names(combos, features)
        state.apply(changes)
        snap = state.snapshot
        for params in (fixed, random_params(rng, rng.choice(MODES))):
            for (group_by, entity), st in kept.items():
                got = table(snap, params, group_by, entity, st=st)
                assert_same(got, previous(snap, params, group_by, entity), tol=1e-12)


def _late_use(state: CubeState, combo: int, feature: int, day: int) -> Snapshot:
    """Store one more feature use (and its activity) of combination id `combo` on `day`."""
    snap = state.snapshot
    row = int(state.row_of[combo])
    block = day // 64
    words = snap.act[row, block - snap.block0] | np.uint64(1 << (day % 64))
    f_rows = np.flatnonzero((snap.f_combo == row) & (snap.f_feat == state.feature_ids[feature]))
    f_word = np.uint64(1 << (day % 64))
    if len(f_rows):
        f_word |= snap.f_words[f_rows[0], block - snap.block0]
    n = state.cursor[0] + 1
    state.apply(
        Changes(
            [(combo, block, int(words.view(np.int64)))],
            [(combo, feature, block, int(f_word.view(np.int64)))],
            (n, n),
        )
    )
    return state.snapshot


def test_a_write_that_changes_one_count_changes_the_answer() -> None:
    """The kept counts follow a write that adds no combination: a device that was idle on the
    last day of the period uses a core feature then. DAU of its segment, its stickiness and its
    feature adoption move; a state that kept its counts (or words) would not."""
    events = random_fleet(random.Random(11))
    state = state_from_events(events)
    _, features, _ = analytics_rows(events)
    params = PesParams(date(2026, 2, 1), date(2026, 2, 28), core_features={"press-x": ["export"]})
    end = params.end.toordinal()
    snap = state.snapshot
    st = SegmentState(("device_type",), "device", ())
    before = table(snap, params, ("device_type",), "device", st=st)
    # A press-x combination with no activity on the last day.
    on_end = np.flatnonzero(
        (snap.act[:, end // 64 - snap.block0] >> np.uint64(end % 64)) & np.uint64(1)
    )
    press = snap.vocab["device_type"].index("press-x")
    idle = [r for r in np.flatnonzero(snap.codes["device_type"] == press) if r not in on_end]
    combo = next(c for c, r in state.rows.items() if r == idle[0])
    feature = next(i for i, name in features if name == "export")
    after_snap = _late_use(state, combo, feature, end)
    after = table(after_snap, params, ("device_type",), "device", st=st)
    assert st.rebuilds == 1, "one write of known combinations: no rebuild"
    expected = previous(after_snap, params, ("device_type",), "device")
    assert_same(after, expected, tol=1e-12)
    assert_same(after, reference_pes(_with_use(events, combo, state, end), ["device_type"],
                                     "device", params))  # fmt: skip
    press_before = next(r for r in before if r.segment == ("press-x",))
    press_after = next(r for r in after if r.segment == ("press-x",))
    assert press_after.dau == press_before.dau + 1
    assert press_after.stickiness != press_before.stickiness


def _with_use(events: list[dict[str, object]], combo: int, state: CubeState, day: int
              ) -> list[dict[str, object]]:  # fmt: skip
    """The events plus the late use that _late_use stored, for the reference."""
    snap = state.snapshot
    row = state.rows[combo]
    device = snap.vocab["device_id"][int(snap.codes["device_id"][row])]
    like = next(e for e in events if e["device_id"] == device
                and e.get("firmware_version") == snap.vocab["firmware_version"][
                    int(snap.codes["firmware_version"][row])])  # fmt: skip
    when = date.fromordinal(day).isoformat() + "T12:00:00Z"
    extra = {**like, "id": "late-use", "kind": "feature_use", "feature": "export", "ts": when}
    extra.pop("props", None)
    return [*events, extra]


@pytest.mark.parametrize("seed", range(3))
def test_trend_matches_previous_path(seed: int) -> None:
    rng = random.Random(400 + seed)
    events = random_fleet(rng)
    snap = state_from_events(events).snapshot
    template = random_params(rng, rng.choice(MODES))
    spans = periods(date(2026, 1, 20), date(2026, 2, 25), "week")
    for group_by, entity in itertools.product(GROUP_BYS[:4], ("device", "account")):
        st = SegmentState(group_by, entity, ())
        st.update(snap)
        got = trend_tables(st, snap, spans, template)
        cube = snap.view(*trend_range(spans, template))
        want = trend(cube, members(cube, group_by, entity), spans, template)
        assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in want]
        assert_same([r for *_, r in got], [r for *_, r in want], tol=1e-12)


def test_window_words_and_day_counts_hand_computed() -> None:
    words = np.zeros((3, 2), np.uint64)
    words[0, 0] = np.uint64(1 << 62)  # day 62: windows of 7 cover days 62..68
    words[1, 1] = np.uint64(1)  # day 64
    words[2, 0] = np.uint64(1 << 3)  # day 3
    w7 = window_words(words, 7)
    days = [set(np.flatnonzero(np.unpackbits(r.view(np.uint8), bitorder="little")).tolist())
            for r in w7]  # fmt: skip
    assert days == [set(range(62, 69)), set(range(64, 71)), set(range(3, 10))]
    counts = day_counts(w7, np.array([0, 0, 1]), 2)
    assert counts[0, 61:72].tolist() == [0, 1, 1, 2, 2, 2, 2, 2, 1, 1, 0]
    assert counts[1, :11].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]
    for width in (1, 2, 30, 64 - 1):  # against a window built day by day
        w = window_words(words, width)
        bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little").astype(bool)
        want = np.array([[bits[r, max(d - width + 1, 0) : d + 1].any() for d in range(128)]
                         for r in range(3)])  # fmt: skip
        got = np.unpackbits(w.view(np.uint8), axis=1, bitorder="little").astype(bool)
        assert (got == want).all(), width


def test_states_are_kept_per_grouping_and_bounded() -> None:
    states = SegmentStates(size=2)
    a = states.get(("device_type",), "device", {})
    assert states.get(["device_type"], "device", {}) is a
    states.get((), "device", {})
    states.get((), "account", {})
    assert states.get(("device_type",), "device", {}) is not a  # dropped as least recent


def test_empty_and_filtered_out_states_give_no_rows() -> None:
    params = PesParams(date(2026, 2, 1), date(2026, 2, 28))
    assert table(CubeState().snapshot, params, ("device_type",), "device") == []
    snap = state_from_events(random_fleet(random.Random(2))).snapshot
    assert table(snap, params, (), "device", {"device_type": "nothing"}) == []
    assert params.end - params.start == timedelta(days=27)


def test_feature_pairs_appended_equal_a_rebuild() -> None:
    """Rows appended in pieces (new pairs, more rows of known pairs, rows outside the grouping)
    give the pairs, and the pairs hit, of one build over all rows."""
    rng = np.random.default_rng(5)
    member = rng.integers(-1, 40, 600)
    feat = rng.integers(0, 6, 600)
    kept = FeaturePairs(member[:100], feat[:100])
    for end in (101, 150, 151, 400, 600):
        assert kept.extend(member[:end], feat[:end])
    fresh = FeaturePairs(member, feat)

    def pairs(p: FeaturePairs) -> set[tuple[int, int]]:
        return set(zip(p.member.tolist(), p.feat.tolist(), strict=True))

    assert (
        pairs(kept) == pairs(fresh) == {(m, f) for m, f in zip(member, feat, strict=True) if m >= 0}
    )
    for _ in range(5):
        row_hit = rng.random(600) < 0.2
        got = {
            (m, f) for m, f, h in zip(kept.member, kept.feat, kept.hit(row_hit), strict=True) if h
        }
        want = {(m, f) for m, f, h in zip(member, feat, row_hit, strict=True) if h and m >= 0}
        assert got == want
    assert not FeaturePairs(member[:0], feat[:0]).extend(
        np.zeros(REBUILD_ABOVE + 1, np.int64), np.zeros(REBUILD_ABOVE + 1, np.int64)
    )


def test_day_counts_with_many_segments_take_the_unpacked_path() -> None:
    """Above _MAX_HIST histogram bins day_counts adds unpacked rows per segment instead; both
    give the per-segment bit counts."""
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**63, (3000, 2), dtype=np.int64).view(np.uint64)
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little").astype(np.int64)
    for n_seg in (7, 2500):  # 2,500 x 16 bytes x 256 bins is above the histogram's bound
        seg = np.sort(rng.integers(0, n_seg, len(words)))
        want = np.zeros((n_seg, 128), np.int64)
        np.add.at(want, seg, bits)
        assert (day_counts(words, seg, n_seg) == want).all(), n_seg
