"""reports/answers.py: answers of the newest snapshot only, keyed by query and settings object,
at most MAX_ANSWERS."""

from __future__ import annotations

from typing import Any, cast

from collector.analytics.state import Snapshot
from collector.reports.answers import MAX_ANSWERS, Answers


def snap() -> Snapshot:
    return cast(Snapshot, object())  # only its identity is used


def test_an_answer_holds_for_its_snapshot_and_settings_only() -> None:
    a, b, settings = snap(), snap(), object()
    answers = Answers()
    rows: list[dict[str, Any]] = [{"pes": 1.0}]
    answers.put(a, "q", settings, rows)
    rows.append({"pes": 2.0})  # the caller's list is not the kept one
    assert answers.get(a, "q", settings) == [{"pes": 1.0}]
    assert answers.get(a, "q", object()) is None
    assert answers.get(a, "other", settings) is None
    assert answers.get(b, "q", settings) is None
    answers.put(b, "q2", settings, [])
    assert answers.get(a, "q", settings) is None  # a newer snapshot dropped a's answers
    assert answers.get(b, "q2", settings) == []


def test_at_most_max_answers_the_oldest_dropped() -> None:
    s, settings = snap(), object()
    answers = Answers()
    for k in range(MAX_ANSWERS + 1):
        answers.put(s, k, settings, [{"k": k}])
    assert answers.get(s, 0, settings) is None
    assert answers.get(s, 1, settings) == [{"k": 1}]
    assert answers.get(s, MAX_ANSWERS, settings) == [{"k": MAX_ANSWERS}]
