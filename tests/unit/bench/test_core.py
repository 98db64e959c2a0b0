"""The benchmark report's shape: no benchmark runs here, only what `python -m bench` prints and
writes (issue 9 fixes the JSON keys and the figure names)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from bench.__main__ import DEFAULT, SUITES
from bench.core import JSON_KEYS, REQUIRED, Figure, missing, render, write_json


def test_json_has_the_issue_keys_and_the_ratio(tmp_path: Path) -> None:
    figures = [
        Figure("ingest_sqlite_eps", 40_000.0, "events/s (100k events)", ">= 100000", 8_000.0),
        Figure("agent_rss_mb", 39.5, "MB", "< 40"),
    ]
    out = tmp_path / "f.json"
    write_json(out, figures)
    doc = json.loads(out.read_text())
    assert isinstance(doc, list) and len(doc) == 2
    for d in doc:
        assert set(JSON_KEYS) <= set(d)
    assert set(JSON_KEYS) == {"name", "value", "unit", "target", "baseline", "ratio"}
    first, second = doc
    assert first["ratio"] == pytest.approx(5.0)
    assert first["meets_target"] is False
    assert second["baseline"] is None and second["ratio"] is None
    assert second["meets_target"] is True


@pytest.mark.parametrize(
    ("target", "value", "meets"),
    [(">= 3", 3.0, True), (">= 3", 2.9, False), ("< 2", 2.0, False), ("<= 2", 2.0, True),
     ("", 1.0, None)],
)  # fmt: skip
def test_target_check(target: str, value: float, meets: bool | None) -> None:
    assert Figure("x", value, "u", target).meets is meets


def test_table_shows_target_baseline_and_ratio() -> None:
    table = render([Figure("query_pes_ms", 60.0, "ms (100k devices)", "< 300", 3000.0)])
    header, _, row = table.splitlines()
    assert header.split()[:7] == ["figure", "value", "unit", "target", "ok", "baseline", "ratio"]
    assert "query_pes_ms" in row and "< 300" in row and "yes" in row and "0.02x" in row


def test_default_suites_report_every_required_name() -> None:
    produced: list[str] = []
    for name in DEFAULT:
        produced += importlib.import_module(SUITES[name]).PRODUCES
    assert missing([Figure(n, 0.0, "") for n in produced], REQUIRED) == []
    assert len(REQUIRED) == 13


def test_missing_names_are_reported() -> None:
    assert missing([Figure("agent_rss_mb", 1.0, "MB")], ["agent_rss_mb", "e2e_latency_p99_s"]) == [
        "e2e_latency_p99_s"
    ]
