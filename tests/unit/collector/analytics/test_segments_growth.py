"""SegmentState taking in new combinations (devices registering, firmware upgrades, a device
joining another account's types) without rebuilding its grouping: after every refresh of a live
collector, the kept state must hold exactly what a state built from that snapshot holds, and
answer as the previous path and the reference do."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import numpy as np
import pytest

from collector.analytics.grouping import Grouping
from collector.analytics.params import PesParams
from collector.analytics.pes_table import pes_table
from collector.analytics.segments import SegmentState
from collector.analytics.state import CubeState, Snapshot
from tests.kits.analytics import (
    FEATURES,
    analytics_rows,
    assert_same,
    event_day,
    random_fleet,
    random_params,
    reference_pes,
    torn_refreshes,
)
from tests.unit.collector.analytics.test_pes_table import MODES, previous

KEPT: list[tuple[tuple[str, ...], str, dict[str, str]]] = [
    ((), "device", {}),
    (("device_type",), "device", {}),
    (("firmware_version",), "device", {}),
    (("device_type", "firmware_version"), "account", {}),
    (("label:site", "firmware_version"), "device", {}),
    (("firmware_version",), "account", {"device_type": "press-x"}),
    (("device_type",), "device", {"label:site": "north"}),
]
PARTS = 10


def _same_grouping(got: Grouping, want: Grouping) -> None:
    assert got.segments == want.segments
    for name in ("seg_codes", "seg", "starts", "entity_codes", "combo_member", "mtype",
                 "mixed_rows"):  # fmt: skip
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert len(got.levels) == len(want.levels)
    assert np.array_equal(got.levels[0][0], want.levels[0][0])
    assert np.array_equal(got.levels[0][1], want.levels[0][1])
    for (g_own, g_rows), (w_own, w_rows) in zip(got.levels[1:], want.levels[1:], strict=True):
        # Higher levels may list their (member, row) pairs in another order.
        assert sorted(zip(g_own.tolist(), g_rows.tolist(), strict=True)) == sorted(
            zip(w_own.tolist(), w_rows.tolist(), strict=True)
        )


def _same_state(kept: SegmentState, snap: Snapshot) -> None:
    fresh = SegmentState(kept.group_by, kept.entity, kept.filters)
    fresh.update(snap)
    assert kept.group is not None and fresh.group is not None
    _same_grouping(kept.group, fresh.group)
    assert np.array_equal(kept.words, fresh.words)
    assert np.array_equal(kept.first, fresh.first)
    assert np.array_equal(kept.f_member, fresh.f_member)
    assert kept.counts.keys() == fresh.counts.keys()
    for w, c in fresh.counts.items():
        assert np.array_equal(kept.counts[w], c), w
    assert kept.pairs is not None and fresh.pairs is not None
    pairs = {(m, f) for m, f in zip(kept.pairs.member.tolist(), kept.pairs.feat.tolist(),
                                   strict=True)}  # fmt: skip
    assert len(pairs) == len(kept.pairs)
    assert pairs == set(zip(fresh.pairs.member.tolist(), fresh.pairs.feat.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(6))
def test_new_combinations_are_taken_in_without_a_rebuild(seed: int) -> None:
    rng = random.Random(500 + seed)
    events = random_fleet(rng, devices=rng.randint(10, 18))
    ordered = sorted(events, key=event_day)
    state = CubeState()
    kept = {(g, e, tuple(sorted(f.items()))): SegmentState(g, e, tuple(sorted(f.items())),
                                                           growth_rebuild=float("inf"))
            for g, e, f in KEPT}  # fmt: skip
    fixed = random_params(rng, "dau_mau")  # the same core sets each time: kept candidates
    grew = built = 0
    for n, (combos, features, changes) in enumerate(torn_refreshes(events, PARTS)):
        old = state.snapshot
        state.add_names(combos, features)
        state.apply(changes)
        snap = state.snapshot
        # A new 64-day block (or the first combinations) builds anew; other growth must not.
        blocks = (snap.block0, snap.act.shape[1]) != (old.block0, old.act.shape[1])
        if n == 0 or not len(old.first) or blocks:
            built += 1
        elif len(snap.first) > len(old.first):
            grew += 1
        # After the activity half of a pair, the snapshot holds exactly this prefix's events.
        prefix = ordered[: len(ordered) * (n // 2 + 1) // PARTS] if n % 2 else None
        for params in (fixed, random_params(rng, rng.choice(MODES))):
            for (group_by, entity, filters), st in kept.items():
                st.update(snap)
                got = pes_table(st, snap, params)
                f = dict(filters)
                assert_same(got, previous(snap, params, group_by, entity, f), tol=1e-12)
                if prefix is not None:
                    assert_same(got, reference_pes(prefix, list(group_by), entity, params,
                                                   filters=f))  # fmt: skip
        for st in kept.values():
            _same_state(st, snap)
    assert grew >= 3, "the refreshes bring new combinations"
    for st in kept.values():
        assert (st.rebuilds, st.extends) == (built, grew), "new combinations: no rebuild"


def test_a_firmware_upgrade_moves_a_device_between_segments_of_a_kept_state() -> None:
    """One device of a built state upgrades: in the grouping by firmware it becomes a member of
    a new segment (a firmware no device had), in the grouping by device type it stays one
    member with one more combination; both answer as a fresh state and without a rebuild."""
    rng = random.Random(7)
    events = random_fleet(rng, devices=8)
    end_day = max(event_day(e) for e in events)
    state = CubeState()
    combos, features, changes = analytics_rows(events)
    state.add_names(combos, features)
    state.apply(changes)
    by_fw = SegmentState(("firmware_version",), "device", ())
    by_type = SegmentState(("device_type",), "device", ())
    params = random_params(rng)
    for st in (by_fw, by_type):
        st.update(state.snapshot)
    like = next(e for e in events if e["kind"] == "feature_use")
    upgraded = {**like, "id": "upgrade", "firmware_version": "9.9",
                "ts": end_day.isoformat() + "T12:00:00Z"}  # fmt: skip
    combos, features, changes = analytics_rows([*events, upgraded])
    state.add_names(combos, features)
    state.apply(changes)
    snap = state.snapshot
    for st in (by_fw, by_type):
        st.update(snap)
        assert (st.rebuilds, st.extends) == (1, 1)
        _same_state(st, snap)
        assert_same(pes_table(st, snap, params),
                    previous(snap, params, st.group_by, "device"), tol=1e-12)  # fmt: skip
    assert by_fw.group is not None and ("9.9",) in by_fw.group.segments
    assert by_type.group is not None and len(by_type.group.levels) >= 2
    # No member inserted in by_type: the kept adoption candidates need no renumbering.
    assert by_type.pairs is not None and by_type.pairs.layout == 0


def test_an_account_gaining_a_second_device_type_keeps_its_answers() -> None:
    """Per account, a member with one device type has its core set fixed (mtype, and the fixed
    adoption candidates of pes_pairs); a new device of another type in that account makes it a
    member with several types, whose candidates must be checked per period from then on."""
    rng = random.Random(9)
    events = random_fleet(rng, devices=8)
    solo = events[0]["device_id"]
    dtype = events[0]["device_type"]
    events = [{**e, "account_id": "solo"} if e["device_id"] == solo else e for e in events]
    other = next(t for t in FEATURES if t != dtype)
    used = next(e["feature"] for e in events if e["device_id"] == solo and e["feature"])
    end_day = max(event_day(e) for e in events)
    last = max(event_day(e) for e in events if e["device_id"] == solo and e["kind"] != "heartbeat"
               and e["kind"] != "status")  # fmt: skip
    # The newcomer uses a feature named like one the account's first device used, after that
    # device's last day: in P the account's core set is the newcomer type's, which lacks it.
    # P starts the day after: both types present in P before and after (other devices), so
    # the request's core configuration, and its kept candidates, are the same.
    ts = (end_day + timedelta(days=5)).isoformat() + "T09:00:00Z"
    joined = {**next(e for e in events if e["device_id"] == solo), "id": "joined",
              "device_id": "newcomer", "device_type": other, "kind": "feature_use",
              "feature": used, "ts": ts}  # fmt: skip
    joined.pop("props", None)
    cores = {dtype: [used], other: [FEATURES[other][0]]}
    periods = [(end_day - timedelta(days=20), end_day, {}),
               (last + timedelta(days=1), end_day + timedelta(days=5), cores)]  # fmt: skip
    state = CubeState()
    kept = [SegmentState(g, "account", ()) for g in ((), ("label:site",))]
    for part in (events, [*events, joined]):
        combos, features, changes = analytics_rows(part, like=[*events, joined])
        state.add_names(combos, features)
        state.apply(changes)
        snap = state.snapshot
        for st, (start, end, core) in itertools.product(kept, periods):
            params = PesParams(start, end, core_features=core)
            st.update(snap)
            got = pes_table(st, snap, params)
            assert_same(got, previous(snap, params, st.group_by, "account"), tol=1e-12)
            assert_same(got, reference_pes(part, list(st.group_by), "account", params))
            _same_state(st, snap)
    for st in kept:
        assert (st.rebuilds, st.extends) == (1, 1)
        assert st.group is not None
        solo_code = snap.vocab["account_id"].index("solo")
        assert (st.group.mtype[st.group.entity_codes == solo_code] == -1).all()
