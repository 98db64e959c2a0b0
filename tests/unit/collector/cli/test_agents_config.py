"""`pes-collector agents config` without a broker: the message `set` publishes (merge, unset,
replace, version), usage mistakes before connecting, the device type's ACL section that
provisioning writes, and the configuration topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from collector.cli import provision as P
from collector.cli.agents import next_message
from shared.remote_config import ConfigMessage, InvalidRemoteConfig
from shared.topics import config_level_from_topic, device_type_config_topic

CURRENT = ConfigMessage("4", {"status_interval_s": 300.0, "collection": "off"})


def test_set_merges_into_the_current_message_and_counts_the_version_up() -> None:
    got = next_message(CURRENT, ["batch_max_events=50", "collection=on"])
    assert got == ConfigMessage(
        "5", {"status_interval_s": 300.0, "collection": "on", "batch_max_events": 50}
    )
    assert next_message(None, ["collection=off"]).version == "1"
    assert next_message(CURRENT, [], unset=["collection"]).settings == {"status_interval_s": 300.0}
    assert next_message(CURRENT, ["drain_rate_eps=0"], replace=True).settings == {
        "drain_rate_eps": 0
    }
    assert next_message(CURRENT, [], version="2026-03-r1").version == "2026-03-r1"


@pytest.mark.parametrize(
    ("current", "kw", "why"),
    [
        (ConfigMessage("t7", {}), {}, "give --version"),
        (CURRENT, {"unset": ["window"]}, "window"),
        (CURRENT, {"version": "a=b"}, "version"),
        (CURRENT, {"assignments": ["linger_ms=5"]}, "linger_ms"),
    ],
)
def test_set_refuses_what_an_agent_would_refuse(
    current: ConfigMessage, kw: dict[str, object], why: str
) -> None:
    assignments = kw.pop("assignments", [])
    with pytest.raises(InvalidRemoteConfig, match=why):
        next_message(current, assignments, **kw)  # type: ignore[arg-type]  # the test's own kw


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["set", "--fleet", "window=4"], "window: not a setting"),
        (["set", "--fleet"], "nothing to set"),
        (["set", "--device", "bad/id", "collection=off"], "not a valid device id"),
        (["set", "--fleet", "--device", "gw", "collection=off"], "not allowed with"),
        (["set", "collection=off"], "one of the arguments"),
    ],
)
def test_usage_mistakes_exit_2_before_any_connection(
    argv: list[str], why: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[mqtt]\nport = 1\n[storage]\nurl = "sqlite:///x.db"\n')
    code: int | None
    try:
        code = main(["agents", "config", *argv, "--config", str(conf)])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    assert code == 2
    assert why in capsys.readouterr().err


def test_provisioning_grants_one_device_type_per_device(tmp_path: Path) -> None:
    acl = tmp_path / "pes.acl"
    P.ensure_acl(acl, device_patterns=True, collector_user=P.COLLECTOR_USER)
    assert P.set_device_type_acl(acl, "gw-1", "press x/2") == [
        "user gw-1",
        "topic read pes/v1/config/type/press%20x%2F2",
    ]
    assert P.set_device_type_acl(acl, "gw-1", "press x/2") == []  # idempotent
    P.set_device_type_acl(acl, "gw-2", "press x/2")
    P.set_device_type_acl(acl, "gw-1", "lathe")  # the type changed: the old line goes
    text = acl.read_text()
    assert text.count("press%20x%2F2") == 1 and "user gw-1" in text
    assert "topic read pes/v1/config/type/lathe" in text
    # Every collector line is still there, and devices still only read configuration.
    assert all(line in text for line in (*P.COLLECTOR_ACL, *P.DEVICE_ACL))
    assert not [ln for ln in text.splitlines() if "config" in ln and "pattern write" in ln]


@pytest.mark.parametrize(
    ("topic", "want"),
    [
        ("pes/v1/config/fleet", ("fleet", "")),
        (device_type_config_topic("press x/2+"), ("type", "press x/2+")),
        ("pes/v1/dev/gw-1/config", ("device", "gw-1")),
        ("pes/v1/config/type/", None),
        ("pes/v1/config/type/a/b", None),
        ("pes/v1/config/probe/x", None),
        ("pes/v1/dev/gw-1/status", None),
    ],
)
def test_configuration_topics(topic: str, want: tuple[str, str] | None) -> None:
    assert config_level_from_topic(topic) == want
