"""Settings and request parameters of the analytics: weights, filters, health, alert rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from collector.errors import ConfigError, QueryError
from collector.reports.query import make_query, parse_weights
from collector.settings import AlertRule, HealthSettings, PesSettings, load_settings


def test_weights_and_filters_of_a_query() -> None:
    s = PesSettings()
    assert parse_weights(None) is None and parse_weights(" ") is None
    assert parse_weights("0.5,0.25,0.25") == (0.5, 0.25, 0.25)
    for bad in ("1,2", "a,b,c", "1,1,1", "-1,1,1"):
        with pytest.raises(QueryError):
            make_query(s, start=None, end=date(2026, 3, 1), group_by=None, weights=bad)
    q = make_query(
        s,
        start=None,
        end=date(2026, 3, 1),
        group_by="",
        weights="0,0,1",
        filters={"firmware_version": "2.1", "device_type": None, "account_id": "acme"},
    )
    assert q.filters == (("account_id", "acme"), ("firmware_version", "2.1"))
    assert q.params(s).weights == (0, 0, 1) and q.start == date(2026, 1, 31)
    assert make_query(s, start=None, end=date(2026, 3, 1), group_by="").params(s).weights == (
        s.weights
    )


def test_health_settings() -> None:
    assert HealthSettings().weights == (25, 35, 25, 15)
    HealthSettings(weights=(50, 50, 0, 0), falling_points=10)
    with pytest.raises(ValidationError, match="sum to 100"):
        HealthSettings(weights=(25, 35, 25, 25))
    with pytest.raises(ValidationError):
        HealthSettings(target_session_minutes=0)


def test_alert_rules() -> None:
    AlertRule(name="x", below=40)
    AlertRule(name="y", kind="entity", metric="health", falling_by=10)
    with pytest.raises(ValidationError, match="needs `below` or `falling_by`"):
        AlertRule(name="x")
    with pytest.raises(ValidationError, match="entity rules watch"):
        AlertRule(name="x", kind="entity", metric="pes", below=1)
    with pytest.raises(ValidationError, match="entity rules watch"):
        AlertRule(name="x", metric="health", below=1)
    with pytest.raises(ValidationError, match="applies to entity rules"):
        AlertRule(name="x", below=1, falling_by=3)


def test_alert_rules_from_toml(tmp_path: Path) -> None:

    conf = tmp_path / "c.toml"
    conf.write_text(
        '[alerts]\nwebhook_url = "http://h/x"\n[[alerts.rules]]\nname = "r"\n'
        'below = 30\nfilters = { device_type = "press-x" }\n'
        "[pes.health]\nfalling_points = 5\n"
    )
    s = load_settings(conf)
    assert s.alerts.rules[0].filters == {"device_type": "press-x"}
    assert s.pes.health.falling_points == 5
    conf.write_text('[[alerts.rules]]\nname = "r"\nkind = "entity"\nmetric = "pes"\nbelow = 1\n')
    with pytest.raises(ConfigError, match=r"alerts\.rules\.0"):
        load_settings(conf)


def test_scoped_tokens_are_typed_and_checked_at_start_up(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[api]\ntokens = ["full-token"]\n'
        '[[api.scoped_tokens]]\nname = "dealer"\ntoken = "0123456789abcdef"\n'
        'read_only = true\naccounts = ["acme"]\n'
    )
    api = load_settings(conf).api
    (t,) = api.scoped_tokens
    assert (t.name, t.read_only, t.accounts, api.open) == ("dealer", True, ["acme"], False)
    assert load_settings(None).api.open
    scoped = {"name": "n", "token": "0123456789abcdef"}
    bad = [
        ({"scoped_tokens": [{**scoped, "token": "short"}]}, "at least 16"),
        ({"scoped_tokens": [{**scoped, "accounts": []}]}, "at least 1"),
        ({"scoped_tokens": [{**scoped, "accounts": ["x" * 65]}]}, "1 to 64"),
        ({"scoped_tokens": [{**scoped, "nope": 1}]}, "Extra inputs"),
        ({"tokens": ["0123456789abcdef"], "scoped_tokens": [scoped]}, "must be different"),
        ({"scoped_tokens": [scoped, {**scoped, "token": "fedcba9876543210"}]}, "own name"),
        ({"tokens": [" padded"]}, "spaces"),
    ]
    for api_conf, message in bad:
        with pytest.raises(ConfigError, match=message):
            load_settings(None, api=api_conf)
