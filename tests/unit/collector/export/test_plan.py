"""Which partitions an export run writes: new days, changed days, never an unchanged one."""

from __future__ import annotations

from datetime import date

import pytest

from collector.export import Manifest, ManifestError, Task, plan
from collector.export.plan import Written, pes_reach

OPTS = {"pes_days": 3}
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
MARKS = [("2026-03-01", 10, 4), ("2026-03-02", 5, 0), ("2026-03-03", 7, 7)]


def _apply(manifest: Manifest, tasks: list[Task]) -> None:
    for t in tasks:
        manifest.put(t.table, t.day.isoformat(), Written(t.fingerprint, 1))


def test_first_run_writes_every_table_of_every_day_holding_it() -> None:
    tasks = plan(MARKS, Manifest(), D1, D3, OPTS, 3)
    got = {(t.table, t.day) for t in tasks}
    # 2026-03-02 has raw events (heartbeats) but no activity: no rollup rows to write, but
    # its PES (a window holding day 1's activity) is.
    assert got == {
        *((tb, d) for tb in ("events", "streams", "pes") for d in (D1, D2, D3)),
        *((tb, d) for tb in ("activity_day", "feature_day", "session_day") for d in (D1, D3)),
    }


def test_second_run_writes_nothing_and_a_late_event_rewrites_its_day_and_later_pes() -> None:
    manifest = Manifest()
    _apply(manifest, plan(MARKS, manifest, D1, D3, OPTS, 3))
    assert plan(MARKS, manifest, D1, D3, OPTS, 3) == []
    late = [("2026-03-01", 11, 5), *MARKS[1:]]  # one activity event arrives late for day 1
    got = {(t.table, t.day) for t in plan(late, manifest, D1, D3, OPTS, 3)}
    day1 = {(tb, D1) for tb in ("events", "streams", "activity_day", "feature_day",
                                "session_day", "pes")}  # fmt: skip
    assert got == day1 | {("pes", D2), ("pes", D3)}  # their windows hold day 1


def test_a_late_heartbeat_rewrites_the_raw_tables_only() -> None:
    manifest = Manifest()
    _apply(manifest, plan(MARKS, manifest, D1, D3, OPTS, 3))
    late = [MARKS[0], ("2026-03-02", 6, 0), MARKS[2]]
    assert {(t.table, t.day) for t in plan(late, manifest, D1, D3, OPTS, 3)} == {
        ("events", D2),
        ("streams", D2),
    }


def test_days_pruned_by_retention_keep_their_files() -> None:
    manifest = Manifest()
    _apply(manifest, plan(MARKS, manifest, D1, D3, OPTS, 3))
    pruned = [("2026-03-01", 0, 4), *MARKS[1:]]  # raw events gone, rollups stay
    assert plan(pruned, manifest, D1, D3, OPTS, 3) == []


def test_new_options_rewrite_the_pes_table_only_and_the_range_is_respected() -> None:
    manifest = Manifest()
    _apply(manifest, plan(MARKS, manifest, D1, D3, OPTS, 3))
    got = plan(MARKS, manifest, D2, D2, {"pes_days": 7}, 7)
    assert [(t.table, t.day) for t in got] == [("pes", D2)]


def test_pes_reach_covers_the_previous_period_and_the_mau_window() -> None:
    assert pes_reach(30) == 59  # P' starts 2L - 1 = 59 days before end
    assert pes_reach(7) == 35  # MAU of P's first day (end - 6) reaches back 29 more


def test_manifest_round_trips_and_refuses_foreign_files() -> None:
    m = Manifest()
    m.put("events", "2026-03-01", Written("abc", 3))
    assert Manifest.from_json(m.to_json()).tables == m.tables
    for bad in ("not json", "[]", '{"version": 99, "tables": {}}', '{"version": 1}'):
        with pytest.raises(ManifestError):
            Manifest.from_json(bad)
