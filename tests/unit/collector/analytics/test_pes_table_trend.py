"""analytics.pes_table.trend_tables: a trend's periods share what they can (the members' active
flags by interval, the candidate pairs' days of use gathered once and laid out in slots, periods
without activity skipped). Checked against the table of each period alone (the /v1/pes path: the
same rows, exactly), against the per-member path and against the reference over raw events, on
random fleets and over every refresh of a kept state, torn reads included; with the pairs all in
lists, in slots as the fill decides, all in slots, and in one slot and lists."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

import numpy as np
import pytest

from collector.analytics import pes_slots
from collector.analytics.bits import bits_between
from collector.analytics.cube import members
from collector.analytics.params import PesParams, PesResult
from collector.analytics.pes_table import Memo, pes_table, trend_tables
from collector.analytics.segments import SegmentState
from collector.analytics.state import CubeState, Snapshot
from collector.analytics.trend import Interval, for_period, periods, trend, trend_range
from collector.storage.bitmaps import Changes
from tests.kits.analytics import (
    BASE,
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
    ("device_type", "firmware_version"),
    ("label:site",),
]
MODES = ("dau_mau", "dau_wau", "wau_mau")
Rows = list[tuple[date, date, PesResult]]
Spans = list[tuple[date, date]]
# pes_slots.FILL, MAX_SLOTS: every slot a list; as the fill decides; every slot laid out; one.
LAYOUTS = {"lists": (0, 255), "fill": (4, 255), "slots": (1 << 40, 255), "one-slot": (1 << 40, 1)}


@pytest.fixture(params=list(LAYOUTS))
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    fill, max_slots = LAYOUTS[request.param]
    monkeypatch.setattr(pes_slots, "FILL", fill)
    monkeypatch.setattr(pes_slots, "MAX_SLOTS", max_slots)
    return str(request.param)


def _spans(rng: random.Random, interval: Interval) -> Spans:
    """Periods from before the fleet's history (no activity: skipped) to inside it."""
    start = BASE - timedelta(days=rng.randint(10, 40))
    return periods(start, BASE + timedelta(days=rng.randint(20, 59)), interval)


def _each(st: SegmentState, snap: Snapshot, spans: Spans, template: PesParams) -> Rows:
    """The trend as one PES table per period, each with nothing shared."""
    return [(a, b, r) for a, b in spans for r in pes_table(st, snap, for_period(template, a, b))]


def _previous(
    snap: Snapshot, spans: Spans, template: PesParams, group_by: tuple[str, ...], entity: str
) -> Rows:
    cube = snap.view(*trend_range(spans, template))
    return trend(cube, members(cube, group_by, entity), spans, template)


def _check(got: Rows, want: Rows, tol: float | None) -> None:
    assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in want]
    if tol is None:
        assert got == want
    else:
        assert_same([r for *_, r in got], [r for *_, r in want], tol=tol)


@pytest.mark.parametrize("seed", range(4))
def test_trend_over_every_refresh_equals_each_period_and_the_previous_path(
    seed: int, layout: str
) -> None:
    """Kept states fed a live collector's refreshes (torn reads: feature rows one refresh before
    their activity, new combinations, late rows): after each, the trend equals the tables of its
    periods computed one by one, exactly, and the per-member path."""
    rng = random.Random(500 + seed)
    events = random_fleet(rng)
    state = CubeState()
    kept = {(g, e): SegmentState(g, e, ()) for g in GROUP_BYS for e in ("device", "account")}
    for combos, features, changes in torn_refreshes(events, 4):
        state.add_names(combos, features)
        state.apply(changes)
        snap = state.snapshot
        interval: Interval = rng.choice(["week", "month"])
        spans, template = _spans(rng, interval), random_params(rng, rng.choice(MODES))
        for (group_by, entity), st in kept.items():
            st.update(snap)
            got = trend_tables(st, snap, spans, template)
            _check(got, _each(st, snap, spans, template), tol=None)
            _check(got, _previous(snap, spans, template, group_by, entity), tol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_trend_matches_the_reference_over_raw_events(seed: int) -> None:
    rng = random.Random(600 + seed)
    events = random_fleet(rng)
    snap = state_from_events(events).snapshot
    template = random_params(rng, rng.choice(MODES))
    spans = _spans(rng, "week")
    for group_by, entity in itertools.product(GROUP_BYS[1:3], ("device", "account")):
        st = SegmentState(group_by, entity, ())
        st.update(snap)
        got = trend_tables(st, snap, spans, template)
        assert any(r for *_, r in got), "the fleet is active in some period"
        for a, b in spans:
            want = reference_pes(events, list(group_by), entity, for_period(template, a, b))
            assert_same([r for x, _, r in got if x == a], want)


def test_a_use_read_before_its_activity_is_checked_per_period(layout: str) -> None:
    """A feature row whose day has no activity of its combination yet (SQLite reads the two
    tables apart) is one of the gathered candidates checked against the member's activity in
    each period; the trend still equals the periods one by one and the per-member path."""
    events = random_fleet(random.Random(13))
    state = state_from_events(events)
    _, features, _ = analytics_rows(events)
    snap = state.snapshot
    spans = periods(BASE + timedelta(days=20), BASE + timedelta(days=55), "week")
    template = PesParams(spans[0][0], spans[0][1], core_features={"press-x": ["export"]})
    # A press-x device idle in all of the first period (every combination of it) uses export
    # on its last day: without the per-period check it would count as an adopter there.
    day = spans[0][1].toordinal()
    col = day // 64 - snap.block0
    busy = bits_between(snap.act, snap.block0 * 64, spans[0][0].toordinal(), day)
    devices = snap.codes["device_id"]
    idle = np.flatnonzero(~np.isin(devices, devices[busy]))
    press = snap.vocab["device_type"].index("press-x")
    row = next(int(r) for r in idle if snap.codes["device_type"][r] == press)
    combo = next(c for c, r in state.rows.items() if r == row)
    feature = next(i for i, name in features if name == "export")
    f_rows = np.flatnonzero((snap.f_combo == row) & (snap.f_feat == state.feature_ids[feature]))
    word = np.uint64(1 << (day % 64))
    if len(f_rows):
        word |= snap.f_words[f_rows[0], col]
    n = state.cursor[0] + 1
    state.apply(Changes([], [(combo, feature, day // 64, int(word.view(np.int64)))], (n, n)))
    torn = state.snapshot
    for group_by in (("device_type",), ()):
        st = SegmentState(group_by, "device", ())
        st.update(torn)
        got = trend_tables(st, torn, spans, template)
        _check(got, _each(st, torn, spans, template), tol=None)
        _check(got, _previous(torn, spans, template, group_by, "device"), tol=1e-12)
        lo, hi = trend_range(spans, template)
        memo = Memo(spans[0][0].toordinal(), hi, gather=True)
        pes_table(st, torn, for_period(template, *spans[0]), memo)
        assert lo < spans[0][0].toordinal()
        (words,) = memo.words.values()
        listed, laid = len(words.unchecked), sum(len(u) for u in words.slots.unchecked)
        want = (1, 0) if layout == "lists" else (0, 1) if layout == "slots" else None
        assert want in (None, (listed, laid)), "the use without activity: in a list or a slot"
        assert listed + laid == 1, "the use without activity is checked per period"


def test_a_device_without_feature_uses_moves_the_members_and_the_slots_follow(
    layout: str,
) -> None:
    """A refresh that brings a new device with activity only: the members are renumbered (one
    inserted) and no pair is new, so the kept candidates are not extended; their slots, laid
    out by member, must be laid out anew."""
    events = random_fleet(random.Random(21))
    quiet = [{**ev, "device_id": "dev-quiet"} for ev in random_fleet(random.Random(22), devices=1)
             if ev["kind"] != "feature_use"]  # fmt: skip
    spans = _spans(random.Random(23), "week")
    template = PesParams(*spans[0])
    state = CubeState()
    kept = [SegmentState(g, "device", ()) for g in GROUP_BYS]
    for part in (events, events + quiet):
        combos, features, changes = analytics_rows(part, like=events + quiet)
        state.add_names(combos, features)
        state.apply(changes)
        snap = state.snapshot
        for st in kept:
            st.growth_rebuild = 1e9  # the new member taken in place
            st.update(snap)
            got = trend_tables(st, snap, spans, template)
            _check(got, _each(st, snap, spans, template), tol=None)
    assert all(st.rebuilds == 1 and st.extends == 1 for st in kept)


def test_periods_without_activity_give_no_rows() -> None:
    snap = state_from_events(random_fleet(random.Random(3))).snapshot
    st = SegmentState(("device_type",), "device", ())
    st.update(snap)
    before = periods(BASE - timedelta(days=70), BASE - timedelta(days=40), "week")
    assert trend_tables(st, snap, before, PesParams(before[0][0], before[0][1])) == []
    spans = periods(BASE - timedelta(days=30), BASE + timedelta(days=30), "week")
    got = trend_tables(st, snap, spans, PesParams(spans[0][0], spans[0][1]))
    first = min(a for a, _, _ in got)
    assert first > spans[0][0] and first <= BASE, "rows from the first week with activity on"
