"""SegmentState taking in new combinations at the edges the random refreshes of
test_segments_growth.py do not reach: words that fill whole 64-day blocks, and the adoption
candidates kept (renumbered, not built anew) across the growth."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest

from collector.analytics import pes_pairs
from collector.analytics.params import PesParams
from collector.analytics.pes_table import pes_table
from collector.analytics.segments import SegmentState, day_counts
from collector.analytics.state import CubeState
from tests.kits.analytics import (
    FEATURES,
    Event,
    analytics_rows,
    assert_same,
    event_day,
    random_fleet,
    random_params,
)
from tests.unit.collector.analytics.test_pes_table import MODES, previous
from tests.unit.collector.analytics.test_segments_growth import _same_state

HISTORY = 190


def _anchored(events: list[Event]) -> list[Event]:
    """The events plus sessions of their first device on the fleet's first and last days, so
    that a part holding that device spans the same blocks as the whole fleet."""
    days = sorted(event_day(e) for e in events)
    like = next(e for e in events if e["device_id"] == "dev0")
    return [*events, *({**like, "id": f"anchor{k}", "kind": "session_start", "feature": None,
                        "ts": d.isoformat() + "T12:00:00Z"}
                       for k, d in enumerate((days[0], days[-1])))]  # fmt: skip


def _feed(state: CubeState, part: list[Event], like: list[Event]) -> None:
    combos, features, changes = analytics_rows(part, like=like)
    state.add_names(combos, features)
    state.apply(changes)


@pytest.mark.parametrize("seed", range(2))
def test_growth_over_whole_blocks_of_history(seed: int) -> None:
    """Members whose words have days all over a 64-day block (float64 would round them) keep
    them exactly when new devices and a firmware upgrade are taken in without a rebuild."""
    rng = random.Random(40 + seed)
    events = _anchored(random_fleet(rng, history=HISTORY, devices=9))
    late = {"dev6", "dev7", "dev8"}
    end_day = max(event_day(e) for e in events)
    like = next(e for e in events if e["device_id"] == "dev1" and e["kind"] == "feature_use")
    upgrade = {**like, "id": "upgrade", "firmware_version": "7.0",
               "ts": (end_day - timedelta(days=3)).isoformat() + "T08:00:00Z"}  # fmt: skip
    everything = [*events, upgrade]
    state = CubeState()
    kept = [SegmentState(g, e, (), growth_rebuild=float("inf"))
            for g, e in ((("firmware_version",), "device"), (("device_type",), "account"),
                         ((), "device"))]  # fmt: skip
    params = [random_params(rng, mode, history=HISTORY) for mode in MODES]
    for part in ([e for e in events if e["device_id"] not in late], everything):
        _feed(state, part, everything)
        snap = state.snapshot
        assert snap.act.shape[1] >= 3
        for st in kept:
            st.update(snap)
            _same_state(st, snap)
            for p in params:
                assert_same(pes_table(st, snap, p), previous(snap, p, st.group_by, st.entity),
                            tol=1e-12)  # fmt: skip
    for st in kept:
        assert (st.rebuilds, st.extends) == (1, 1)


def test_candidates_are_renumbered_when_members_are_inserted_and_rebuilt_when_retyped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new device inserts members before old ones: the kept adoption candidates of a core
    configuration follow (same object), answering as the previous path. An account that gains
    a second device type cannot keep its fixed candidates: they are built anew."""
    built: list[int] = []
    real = pes_pairs.Candidates.__init__

    def counting(self: pes_pairs.Candidates, *args: object) -> None:
        built.append(1)
        real(self, *args)  # type: ignore[arg-type]  # the spy passes the arguments through

    monkeypatch.setattr(pes_pairs.Candidates, "__init__", counting)
    rng = random.Random(16)
    events = random_fleet(rng, devices=8)
    end_day = max(event_day(e) for e in events)
    types: dict[str, set[str]] = {}
    for e in events:
        types.setdefault(e["account_id"], set()).add(e["device_type"])
    acct = next(a for a, t in sorted(types.items()) if len(t) == 1)
    other = next(t for t in FEATURES if t not in types[acct])
    # 41 days: both device types are active in P before and after, so the request's core
    # configuration (and its key in the cache of candidates) is the same.
    every = [f for fs in FEATURES.values() for f in fs]
    params = PesParams(end_day - timedelta(days=40), end_day, core_features={"*": every})
    state = CubeState()
    _feed(state, events, events)
    n_old = len(state.snapshot.first)
    by_type = SegmentState(("device_type",), "device", (), growth_rebuild=float("inf"))
    by_fw = SegmentState(("firmware_version",), "account", (), growth_rebuild=float("inf"))
    kept = (by_type, by_fw)
    for st in kept:
        st.update(state.snapshot)
        pes_table(st, state.snapshot, params)
        assert st.group is not None and len(st.group.segments) >= 2
    # Seed 16: an account with several types (per-period candidates) in a later segment.
    assert by_fw.group is not None and ((by_fw.group.mtype < 0) & (by_fw.group.seg > 0)).any()
    # A new device of the first segment's type and firmware, in a new account: a member of the
    # first segment in both groupings, inserted before the members of the later segments.
    assert by_type.group is not None
    (dtype0,), (fw0,) = by_type.group.segments[0], by_fw.group.segments[0]
    like = next(e for e in events if e["kind"] == "feature_use" and e["device_type"] == dtype0)
    newcomer = {**like, "id": "new", "device_id": "dev00", "account_id": "acct-new",
                "firmware_version": fw0, "ts": end_day.isoformat() + "T09:00:00Z"}  # fmt: skip
    everything = [*events, newcomer]
    _feed(state, everything, everything)
    snap = state.snapshot
    assert len(snap.first) == n_old + 1
    for st in kept:
        st.update(snap)
        want = previous(state.snapshot, params, st.group_by, st.entity)
        assert_same(pes_table(st, state.snapshot, params), want, tol=1e-12)
        assert st.extends == 1 and st.group is not None
        attr, name = ("device_id", "dev00") if st.entity == "device" else ("account_id", "acct-new")
        new = np.flatnonzero(st.group.entity_codes == snap.vocab[attr].index(name))
        assert st.group.seg[new].tolist() == [0] and new[0] < len(st.group.seg) - 1
    assert len(built) == 2, "renumbered, not built anew"
    # The account's only type so far; a device of another type joins it.
    joined = {**newcomer, "id": "joined", "device_id": "dev01", "account_id": acct,
              "device_type": other, "feature": FEATURES[other][0]}  # fmt: skip
    by_account = SegmentState((), "account", (), growth_rebuild=float("inf"))
    by_account.update(state.snapshot)
    pes_table(by_account, state.snapshot, params)
    before = len(built)
    _feed(state, [*everything, joined], [*everything, joined])
    by_account.update(state.snapshot)
    assert_same(pes_table(by_account, state.snapshot, params),
                previous(state.snapshot, params, (), "account"), tol=1e-12)  # fmt: skip
    assert by_account.extends == 1 and len(built) == before + 1, "retyped: built anew"


def test_a_filtered_state_grows_from_no_member_to_its_first() -> None:
    """A state whose filter matches no device yet: a new device it filters out adds no row,
    then the first matching one (in a new segment) makes the first member; each refresh is
    taken in without a rebuild and answers as a fresh state and the previous path."""
    rng = random.Random(17)
    events = [{**e, "labels": {"site": "north"}} for e in random_fleet(rng, devices=5)]
    end_day = max(event_day(e) for e in events)
    like = next(e for e in events if e["kind"] == "feature_use")
    ts = (end_day - timedelta(days=2)).isoformat() + "T09:00:00Z"
    outsider = {**like, "id": "outsider", "device_id": "dev-out", "ts": ts}
    first = {**like, "id": "first", "device_id": "dev-west", "labels": {"site": "west"},
             "firmware_version": "3.0", "ts": ts}  # fmt: skip
    everything = [*events, outsider, first]
    params = PesParams(end_day - timedelta(days=6), end_day)
    state = CubeState()
    kept = [SegmentState(g, e, (("label:site", "west"),), growth_rebuild=float("inf"))
            for g, e in ((("firmware_version",), "device"), ((), "account"))]  # fmt: skip
    for n, part in enumerate((events, [*events, outsider], everything)):
        _feed(state, part, everything)
        snap = state.snapshot
        for st in kept:
            st.update(snap)
            _same_state(st, snap)
            assert st.group is not None and len(st.group.seg) == (n == 2)
            got = pes_table(st, snap, params)
            want = previous(snap, params, st.group_by, st.entity, {"label:site": "west"})
            assert_same(got, want, tol=1e-12)
            assert len(got) == (n == 2)
    for st in kept:
        assert (st.rebuilds, st.extends) == (1, 2)


@pytest.mark.parametrize("n_seg", [3, 2500])  # the histogram path and the unpacked one
def test_day_counts_are_integer_counts_also_of_no_rows_or_no_days(n_seg: int) -> None:
    """The kept counts are int64 (the table's DAU, WAU and MAU are counts), zero for a
    segment without rows, and of shape (segments, 64 x blocks) however empty the words."""
    rng = np.random.default_rng(n_seg)
    words = rng.integers(0, 2**63, (40, 3), dtype=np.int64).view(np.uint64)
    seg = np.sort(rng.integers(1, n_seg, len(words)))  # segment 0 has no row
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")
    got = day_counts(words, seg, n_seg)
    assert got.dtype == np.int64 and got.shape == (n_seg, 192)
    assert got[0].tolist() == [0] * 192
    for s in np.unique(seg).tolist():
        assert got[s].tolist() == bits[seg == s].sum(axis=0).tolist()
    for rows, blocks in ((0, 3), (40, 0), (0, 0)):
        empty = day_counts(words[:rows, :blocks], seg[:rows], n_seg)
        assert empty.dtype == np.int64 and empty.shape == (n_seg, 64 * blocks)
        assert not empty.any()


@pytest.mark.parametrize(("rows", "n_seg"), [(1, 160), (50, 160), (5000, 7), (3000, 2500)])
def test_day_counts_of_few_or_many_rows_per_segment_in_any_order(rows: int, n_seg: int) -> None:
    """Few rows per segment (a refresh's changed members) are summed unpacked, many (a build)
    through the histogram; both give every segment's bit counts, whatever the rows' order."""
    rng = np.random.default_rng(rows)
    words = rng.integers(0, 2**63, (rows, 2), dtype=np.int64).view(np.uint64)
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little").astype(np.int64)
    for seg in (np.sort(rng.integers(0, n_seg, rows)), rng.integers(0, n_seg, rows)):
        want = np.zeros((n_seg, 128), np.int64)
        np.add.at(want, seg, bits)
        got = day_counts(words, seg, n_seg)
        assert got.dtype == np.int64 and np.array_equal(got, want)
