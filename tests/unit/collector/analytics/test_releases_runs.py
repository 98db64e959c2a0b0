"""The firmware runs of release impact (collector/analytics/releases_runs.py) under late and
resent events: by hand, and any arrival order against the runs of the whole batch."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.analytics.releases_runs import (
    FwEvent,
    Run,
    Stamp,
    apply_event,
    runs_from_events,
    transition_changes,
    transitions,
)


def fw(device: str, d: int, ts: int, eid: str, firmware: str, typ: str = "x") -> FwEvent:
    return FwEvent(device, typ, firmware, d, ts, eid)


def test_runs_late_event_inside_a_run_changes_nothing() -> None:
    a, b, c = fw("a", 1, 10, "1", "1.0"), fw("a", 2, 20, "2", "1.0"), fw("a", 3, 30, "3", "2.0")
    runs = runs_from_events([a, b, c])
    late = fw("a", 1, 15, "0", "1.0")
    assert apply_event(runs, late) == runs
    assert apply_event(runs, b) == runs  # an exact resend: idempotent
    assert apply_event(apply_event(runs, c), c) == runs


def test_runs_arrival_that_splits_a_run() -> None:
    evs = [fw("a", d, d * 10, f"{d}", "1.0") for d in range(1, 6)]
    runs = runs_from_events(evs)
    assert len(runs) == 1
    late = fw("a", 3, 35, "x", "9.9")
    with pytest.raises(ValueError, match="neighbours"):
        apply_event(runs, late)
    split = apply_event(runs, late, evs[2].stamp, evs[3].stamp)
    assert split == runs_from_events([*evs, late])
    assert [(r.firmware, r.first_day, r.last_day) for r in split] == [
        ("1.0", 1, 3), ("9.9", 3, 3), ("1.0", 4, 5)
    ]  # fmt: skip
    added, removed = transition_changes("a", runs, split)
    assert [(t.from_fw, t.to_fw, t.day) for t in added] == [("1.0", "9.9", 3), ("9.9", "1.0", 4)]
    assert removed == []
    assert transition_changes("a", split, runs) == ([], added)


def test_runs_extend_neighbours_and_type_changes_are_not_transitions() -> None:
    a, c = fw("a", 1, 10, "1", "1.0"), fw("a", 3, 30, "3", "2.0")
    runs = runs_from_events([a, c])
    early = fw("a", 2, 25, "2", "2.0")  # before c: extends c's run backwards
    assert apply_event(runs, early) == (runs[0], Run("x", "2.0", (25, "2"), 2, (30, "3"), 3))
    assert transitions([a, c, fw("a", 4, 40, "4", "2.0", typ="y")]) == transitions([a, c])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(0, 2)), max_size=25),
       st.randoms(use_true_random=False))  # fmt: skip
def test_runs_any_arrival_order_equals_the_batch(
    spec: list[tuple[int, int, int]], rnd: random.Random
) -> None:
    evs = [fw("a", d, d * 10 + k, f"e{i:02d}", f"{v}.0") for i, (d, k, v) in enumerate(spec)]
    arrivals = evs + [rnd.choice(evs) for _ in range(len(evs) // 3)]  # resends
    rnd.shuffle(arrivals)
    runs: tuple[Run, ...] = ()
    stored: list[FwEvent] = []
    for e in arrivals:
        prev = max((s for s in stored if s.key < e.key), key=lambda s: s.key, default=None)
        nxt = min((s for s in stored if s.key > e.key), key=lambda s: s.key, default=None)
        runs = apply_event(runs, e, _stamp(prev), _stamp(nxt))
        if e not in stored:
            stored.append(e)
    assert runs == runs_from_events(evs)


def _stamp(e: FwEvent | None) -> Stamp | None:
    return None if e is None else e.stamp
