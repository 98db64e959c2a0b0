"""analytics.pes_table and its state at their edges: many segments, device types at the bound,
a trend's shared preparation, requests the state cannot answer, the LRU of kept states."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from typing import Any

import pytest

from collector.analytics import pes_pairs
from collector.analytics.arrays import Bools
from collector.analytics.cube import members
from collector.analytics.params import PesParams
from collector.analytics.pes_table import MAX_TYPES, Memo, pes_table, supported, trend_tables
from collector.analytics.segments import SegmentState, SegmentStates
from collector.analytics.state import Snapshot
from collector.analytics.trend import periods, trend, trend_range
from tests.kits.analytics import (
    BASE,
    assert_same,
    random_fleet,
    random_params,
    reference_pes,
    state_from_events,
)
from tests.unit.collector.analytics.test_pes_table import MODES, previous


def _snapshot_with_types(n: int) -> Snapshot:
    events = [
        {"id": f"e{k}", "device_id": f"d{k}", "account_id": "a", "device_type": f"type{k}",
         "firmware_version": "1", "kind": "session_start", "feature": None,
         "ts": BASE.isoformat() + "T10:00:00Z"}
        for k in range(n)
    ]  # fmt: skip
    return state_from_events(events).snapshot


def test_supported_up_to_the_type_mask_width() -> None:
    """A member's device types are one uint64 mask: 63 types fit, 64 do not."""
    assert MAX_TYPES == 63
    assert supported(_snapshot_with_types(MAX_TYPES))
    assert not supported(_snapshot_with_types(MAX_TYPES + 1))


def test_more_segments_than_the_counting_shortcut_agree_with_the_previous_path() -> None:
    """Above 64 segments the per-segment counts are summed with reduceat instead of a count
    per slice: one segment per device, and per (account, firmware) with 45 accounts, where a
    segment holds several devices."""
    rng = random.Random(21)
    events = random_fleet(rng, devices=100)
    events = [{**e, "account_id": f"a{int(e['device_id'][3:]) % 45}"} for e in events]
    snap = state_from_events(events).snapshot
    several = False
    for group_by, entity in ((("device_id",), "device"),
                             (("account_id", "firmware_version"), "device")):  # fmt: skip
        st = SegmentState(group_by, entity, ())
        st.update(snap)
        assert st.group is not None and len(st.group.segments) > 64
        for mode in MODES:
            params = random_params(rng, mode)
            got = pes_table(st, snap, params)
            assert_same(got, previous(snap, params, group_by, entity), tol=1e-12)
            several |= any(r.active > 1 for r in got)
    assert several, "some segment counts more than one member"


def test_a_period_with_no_activity_gives_no_rows_and_one_member_one_row() -> None:
    events = random_fleet(random.Random(4), devices=1)
    snap = state_from_events(events).snapshot
    st = SegmentState(("device_type",), "device", ())
    st.update(snap)
    late = PesParams(BASE + timedelta(days=200), BASE + timedelta(days=206))
    assert pes_table(st, snap, late) == []
    for mode in MODES:
        params = random_params(random.Random(5), mode)
        got = pes_table(st, snap, params)
        assert_same(got, previous(snap, params, ("device_type",), "device"), tol=1e-12)


def test_a_table_refuses_a_state_or_memo_it_does_not_fit() -> None:
    snap = state_from_events(random_fleet(random.Random(6))).snapshot
    params = PesParams(date(2026, 2, 1), date(2026, 2, 14))
    st = SegmentState((), "device", ())
    with pytest.raises(ValueError, match=r"^the segment state is not at this snapshot$"):
        pes_table(st, snap, params)  # never updated
    st.update(snap)
    other = state_from_events(random_fleet(random.Random(6))).snapshot
    with pytest.raises(ValueError, match=r"^the segment state is not at this snapshot$"):
        pes_table(st, other, params)
    start, end = params.start.toordinal(), params.end.toordinal()
    for lo, hi in ((start + 1, end), (start, end - 1)):
        with pytest.raises(ValueError, match=r"^the period lies outside the request's memo$"):
            pes_table(st, snap, params, Memo(lo, hi, gather=False))
    assert pes_table(st, snap, params, Memo(start, end, gather=False)) == pes_table(
        st, snap, params
    )


def test_a_trend_gathers_the_days_of_use_once_per_core_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trend of several periods reads the pairs' days of use once for all of them (one core
    configuration here); a trend of one period, and a single table, test the feature rows."""
    events = random_fleet(random.Random(8))
    snap = state_from_events(events).snapshot
    calls: list[tuple[int, int]] = []
    real = pes_pairs.Candidates.gather

    def spy(
        self: pes_pairs.Candidates, snap: Snapshot, lo: int, hi: int, *rest: Any
    ) -> pes_pairs.PairWords:
        calls.append((lo, hi))
        return real(self, snap, lo, hi, *rest)

    monkeypatch.setattr(pes_pairs.Candidates, "gather", spy)
    gathered: list[bool] = []  # per period: whether it reads the gathered days of use
    hits = pes_pairs.Candidates._hits

    def hits_spy(self: pes_pairs.Candidates, *args: Any) -> tuple[Bools, Bools]:
        gathered.append(args[-1] is not None)
        return hits(self, *args)

    monkeypatch.setattr(pes_pairs.Candidates, "_hits", hits_spy)
    template = PesParams(date(2026, 2, 1), date(2026, 2, 7), core_features={"*": ["jog", "export"]})
    st = SegmentState(("device_type",), "device", ())
    st.update(snap)
    for spans in ([(date(2026, 2, 1), date(2026, 2, 7))],
                  periods(date(2026, 2, 2), date(2026, 2, 15), "week")):  # fmt: skip
        calls.clear()
        gathered.clear()
        got = trend_tables(st, snap, spans, template)
        cube = snap.view(*trend_range(spans, template))
        want = trend(cube, members(cube, ("device_type",), "device"), spans, template)
        assert_same([r for *_, r in got], [r for *_, r in want], tol=1e-12)
        lo, hi = spans[0][0].toordinal(), spans[-1][1].toordinal()
        assert calls == ([(lo, hi)] if len(spans) > 1 else [])
        assert gathered == [len(spans) > 1] * len(spans)
    calls.clear()
    pes_table(st, snap, template)
    assert calls == []


def test_a_trend_over_older_blocks_than_the_last() -> None:
    """The days of use gathered for a trend over blocks before the snapshot's last one (and
    after its first) answer as the previous path."""
    rng = random.Random(12)
    events = random_fleet(rng, history=200, devices=8)
    snap = state_from_events(events).snapshot
    assert snap.act.shape[1] >= 4
    template = random_params(rng, "dau_wau")
    start = date.fromordinal((snap.block0 + 1) * 64 + 40)
    spans = periods(start, start + timedelta(days=34), "week")
    for group_by, entity in ((("device_type",), "device"), ((), "account")):
        st = SegmentState(group_by, entity, ())
        st.update(snap)
        got = trend_tables(st, snap, spans, template)
        cube = snap.view(*trend_range(spans, template))
        want = trend(cube, members(cube, group_by, entity), spans, template)
        assert got and [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in want]
        assert_same([r for *_, r in got], [r for *_, r in want], tol=1e-12)


def test_kept_states_default_to_four_groupings_and_keep_the_most_recent() -> None:
    states = SegmentStates()
    keys = [(("device_type",), "device"), ((), "device"), ((), "account"),
            (("firmware_version",), "device"), (("label:site",), "device")]  # fmt: skip
    got = [states.get(g, e, {"label:site": "north"}) for g, e in keys[:4]]
    for (g, e), st in zip(keys[:4], got, strict=True):
        assert (st.group_by, st.entity, st.filters) == (g, e, (("label:site", "north"),))
        assert states.get(list(g), e, {"label:site": "north"}) is st  # all four kept
    states.get(*keys[4], {"label:site": "north"})  # the fifth drops the least recent
    assert states.get(*keys[0], {"label:site": "north"}) is not got[0]
    assert states.get(*keys[3], {"label:site": "north"}) is got[3]
    two = SegmentStates(size=2)
    a, b = two.get((), "device", {}), two.get((), "account", {})
    assert two.get((), "device", {}) is a and two.get((), "account", {}) is b


def test_accounts_mixing_three_device_types_match_the_reference() -> None:
    """With three device types, accounts hold different mixes of them (two of three, all
    three): each mix is its own core set, numbered after the types; two types alone allow
    only one mix."""
    rng = random.Random(44)
    events = random_fleet(rng, devices=14)
    # Every third device is a third type (using the features of the type it was drawn as).
    events = [{**e, "device_type": "mill-3"} if int(e["device_id"][3:]) % 3 == 2 else e
              for e in events]  # fmt: skip
    snap = state_from_events(events).snapshot
    assert len(snap.vocab["device_type"]) == 3
    assert snap.vocab["device_type"] != sorted(snap.vocab["device_type"])
    mixes = {frozenset(e["device_type"] for e in events if e["account_id"] == a)
             for a in {e["account_id"] for e in events}}  # fmt: skip
    assert len([m for m in mixes if len(m) > 1]) >= 2, "seed 44: three mixes of types"
    several = False
    for group_by in ((), ("label:site",)):
        st = SegmentState(group_by, "account", ())
        st.update(snap)
        for mode, core in zip(MODES, ({}, {"mill-3": ["jog", "export"]}, {}), strict=True):
            params = dataclasses.replace(random_params(rng, mode), core_features=core)
            got = pes_table(st, snap, params)
            assert_same(got, reference_pes(events, list(group_by), "account", params))
            assert_same(got, previous(snap, params, group_by, "account"), tol=1e-12)
            # Core sets are shown per device type in name order (the codes are in order of
            # arrival); assert_same compares them as dicts.
            assert all(list(r.core_features) == sorted(r.core_features) for r in got)
            several |= any(len(r.core_features) > 1 for r in got)
    assert several
