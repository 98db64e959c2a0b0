"""CSV and text tables shared by the API and the CLI."""

from __future__ import annotations

from collector.reports.render import flatten, to_csv, to_table


def test_csv_flattens_one_level_and_writes_nulls_empty() -> None:
    rows = [
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
    assert flatten(rows[0])["core_features"] == '{"press-x":["a","b"]}'
    assert to_csv(rows).splitlines() == [
        "device_type,pes,quick_ratio,low_sample,feature_adoption.calibrate,core_features,"
        "reasons,feature_adoption.jog",
        'press-x,52.5,,true,0.5,"{""press-x"":[""a"",""b""]}","[""low""]",',
        '"lathe, 9",,2.0,false,,,[],1.0',  # an empty mapping has no columns
    ]


def test_table_skips_nested_values() -> None:
    text = to_table([{"a": 1, "b": {"x": 1}, "c": 0.123456, "d": None, "e": False}])
    assert text.splitlines() == ["a  c      d  e", "-  -----  -  --", "1  0.123  -  no"]
    assert to_table([]) == "(no rows)"
