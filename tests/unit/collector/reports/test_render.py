"""CSV and text tables shared by the API and the CLI."""

from __future__ import annotations

from typing import Any

from collector.reports.render import (
    band_table,
    compare_table,
    flatten,
    health_table,
    pes_table,
    release_table,
    to_csv,
    to_table,
)


def test_csv_flattens_one_level_and_writes_nulls_empty() -> None:
    rows: list[dict[str, Any]] = [
        {
            "device_type": "press-x",
            "pes": 52.5,
            "quick_ratio": None,
            "low_sample": True,
            "feature_adoption": {"calibrate": 0.5},
            "core_features": {"press-x": ["a", "b"]},
            "reasons": ["low"],
        },
        {
            "device_type": "lathe, 9",
            "pes": None,
            "quick_ratio": 2.0,
            "low_sample": False,
            "feature_adoption": {"jog": 1.0},
            "core_features": {},
            "reasons": [],
        },
    ]
    assert flatten(rows[0])["feature_adoption.calibrate"] == 0.5
    assert flatten(rows[0])["core_features.press-x"] == "a;b"
    assert flatten({"deep": [{"x": 1}]}) == {"deep": '[{"x":1}]'}  # not a list of scalars
    assert to_csv(rows).splitlines() == [
        "device_type,pes,quick_ratio,low_sample,feature_adoption.calibrate,core_features.press-x,"
        "reasons,feature_adoption.jog",
        "press-x,52.5,,true,0.5,a;b,low,",
        '"lathe, 9",,2.0,false,,,,1.0',  # an empty mapping has no columns, an empty list is ""
    ]
    two = to_csv([{"reasons": ["low", "dropped"], "ci": [1.5, None]}]).splitlines()
    assert two == ["reasons,ci", "low;dropped,1.5;"]


def test_table_skips_nested_values() -> None:
    text = to_table([{"a": 1, "b": {"x": 1}, "c": 0.123456, "d": None, "e": False}])
    assert text.splitlines() == ["a  c      d  e", "-  -----  -  --", "1  0.123  -  no"]
    assert to_table([]) == "(no rows)"
    assert to_table([{"r": ["low", "dropped"]}]).splitlines()[2] == "low, dropped"


def _cmp(config: str, metric: str, value: float, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "config": config, "definition": f"firmware_version:{config}", "metric": metric,
        "value": value, "ci_low": value - 5, "ci_high": value + 5, "delta": None,
        "delta_low": None, "delta_high": None, "significant": None, "active": 40,
        "entities": 42, "low_sample": False, "significant_holm": None,
    }  # fmt: skip
    return base | kw


def test_compare_table_sets_configurations_side_by_side() -> None:
    rows = [
        _cmp("a", "pes", 50.0),
        _cmp("a", "adoption", 60.25),
        _cmp("b", "pes", 66.0, delta=16.0, delta_low=8.04, delta_high=24.0,
             significant=True, significant_holm=True, low_sample=True, active=9),
        _cmp("b", "adoption", 61.0, delta=0.75, delta_low=-3.0, delta_high=4.5,
             significant=False, significant_holm=False),
    ]  # fmt: skip
    lines = compare_table(rows, "a").splitlines()
    assert lines[0] == "a (baseline): firmware_version:a: 40 active of 42"
    assert lines[1] == "b: firmware_version:b: 9 active of 42, low sample"
    assert lines[3].split() == ["metric", "a", "b", "b", "-", "a"]
    assert lines[5] == (
        "pes       50.0 (45.0 to 55.0)  66.0 (61.0 to 71.0)  +16.0 (+8.0 to +24.0) **"
    )
    assert lines[6] == "adoption  60.2 (55.2 to 65.2)  61.0 (56.0 to 66.0)    +0.8 (-3.0 to +4.5)"
    assert "Holm" in lines[-1]
    # Only the uncorrected test passes: one star. A baseline given as the second config works.
    one = [_cmp("a", "pes", 1.0, delta=2.0, significant=True, significant_holm=False),
           _cmp("b", "pes", 3.0)]  # fmt: skip
    text = compare_table(one, "b")
    assert "a - b" in text and "+2.0 (-4.0 to +6.0) *" not in text  # no interval given
    assert text.splitlines()[5].endswith("+2.0 *")
    assert compare_table([], "a") == "(no configurations)"


def test_health_table_words_the_reasons() -> None:
    row = {
        "entity": "dev0", "active_days": 3, "frequency": 0.1, "breadth": 1 / 3,
        "key_actions": 0.0, "depth": 1.0, "mean_session_minutes": None, "health": 12.34,
        "health_prev": 40.0, "change": -27.66, "dropped": False, "at_risk": True,
        "reasons": ["low", "falling"], "pql": False,
    }  # fmt: skip
    lines = health_table([row]).splitlines()
    assert lines[0].split() == [
        "entity", "health", "before", "change", "days", "freq", "breadth", "key", "depth",
        "session", "min", "at", "risk", "why", "PQL",
    ]  # fmt: skip
    assert lines[2].split() == [
        "dev0", "12.3", "40.0", "-27.7", "3", "10.0%", "33.3%", "0.0%", "100.0%", "-", "yes",
        "low", "health,", "health", "falling", "no",
    ]  # fmt: skip
    assert health_table([]) == "(no entities in this period)"
    with_account = health_table([{**row, "account_id": "acme"}]).splitlines()
    assert with_account[0].split()[:3] == ["entity", "account", "health"]
    assert with_account[2].split()[:2] == ["dev0", "acme"]


def test_pes_table_has_one_number_format() -> None:
    row = {"device_type": "press-x", "active": 12, "pes": 7.25, "adoption": 100.0,
           "stickiness": 3.04, "growth": 50.0, "new": 2, "recovered": 0, "dropped": 3,
           "quick_ratio": 0.6666, "low_sample": True}  # fmt: skip
    lines = pes_table([row, {**row, "quick_ratio": None, "low_sample": False}], ["device_type"])
    assert lines.splitlines()[2].split() == [
        "press-x", "12", "7.2", "100.0", "3.0", "50.0", "2", "0", "3", "0.67", "*",
    ]  # fmt: skip
    assert lines.splitlines()[3].split()[-1] == "-"  # no quick ratio, not low sample


def test_release_and_band_tables() -> None:
    row = {
        "device_type": "press-x", "from": "2.1", "to": "2.2", "metric": "breadth",
        "transitions": 12, "measurable": 10, "pending": 2, "confounded": 0, "inactive": 0,
        "no_control": 0, "pre_mean": 0.5, "post_mean": 0.625, "change": 0.125,
        "change_ci": [0.1, 0.15], "control_change": -0.01, "did": 0.135,
        "did_ci": [0.0504, 0.2], "significant": True, "significant_holm": True,
    }  # fmt: skip
    lines = release_table([row, {**row, "did": None, "did_ci": None,
                                 "significant_holm": None}]).splitlines()  # fmt: skip
    assert lines[2].split() == [
        "press-x", "2.1", "2.2", "breadth", "10", "2", "0.500", "0.625", "+0.125", "-0.010",
        "+0.135", "+0.050", "to", "+0.200", "yes",
    ]  # fmt: skip
    assert lines[3].split()[-3:] == ["-", "-", "-"]
    assert release_table([]) == "(no firmware changes in this period)"
    bands: list[dict[str, Any]] = [
        {"lo": 0, "hi": 30, "n": 6, "retained": 1, "rate": 1 / 6, "rate_ci": [0.03, 0.5642]},
        {"lo": 70, "hi": 100, "n": 0, "retained": 0, "rate": None, "rate_ci": None},
    ]
    text = band_table(bands).splitlines()
    assert text[2].split() == ["0-30", "6", "1", "16.7%", "3.0%", "to", "56.4%"]
    assert text[3].split() == ["70-100", "0", "0", "-", "-"]
