import os
from pathlib import Path

import pytest

from agent.settings import AgentSettings, load_settings
from shared.errors import ConfigError

TOML = """
device_id = "gw-000123"
device_type = "gateway-x1"
firmware_version = "4.2.1"
account_id = "acme-co"
buffer_path = "{buffer}"
window = 8
[labels]
site = "plant-3"
[mqtt]
host = "broker.local"
port = 8883
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PES_AGENT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(TOML.format(buffer=tmp_path / "buffer.db"))
    return path


def test_reads_toml_and_fills_defaults(config: Path, tmp_path: Path) -> None:
    s = load_settings(config)
    assert isinstance(s, AgentSettings)
    assert (s.device_id, s.device_type, s.firmware_version) == ("gw-000123", "gateway-x1", "4.2.1")
    assert s.labels == {"site": "plant-3"}
    assert s.buffer_path == tmp_path / "buffer.db"
    assert (s.mqtt.host, s.mqtt.port, s.window) == ("broker.local", 8883, 8)
    assert (s.batch_max_events, s.batch_max_bytes, s.linger_ms) == (500, 256 * 1024, 200)
    assert (s.ack_timeout_s, s.max_buffer_mb, s.status_interval_s) == (10, 64, 60)


def test_environment_overrides_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PES_AGENT_MQTT__PORT", "1884")
    monkeypatch.setenv("PES_AGENT_DEVICE_ID", "gw-override")
    s = load_settings(config)
    assert (s.device_id, s.mqtt.port, s.mqtt.host) == ("gw-override", 1884, "broker.local")


def test_config_path_from_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PES_AGENT_CONFIG", str(config))
    assert load_settings(None).device_id == "gw-000123"


def test_environment_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "DEVICE_ID": "gw-9",
        "DEVICE_TYPE": "t",
        "FIRMWARE_VERSION": "1",
        "ACCOUNT_ID": "a",
    }.items():
        monkeypatch.setenv(f"PES_AGENT_{key}", value)
    assert load_settings(None).device_id == "gw-9"


def test_bad_device_id_names_the_key_and_the_value(config: Path) -> None:
    config.write_text(config.read_text().replace('"gw-000123"', '"gw 123/x"'))
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    msg = str(info.value)
    assert "device_id" in msg and "gw 123/x" in msg and str(config) in msg


def test_missing_unknown_and_out_of_range_keys_are_all_reported(config: Path) -> None:
    text = config.read_text().replace('account_id = "acme-co"\n', "").replace("window = 8", "")
    config.write_text("windw = 3\nbatch_max_events = 5000\n" + text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    msg = str(info.value)
    assert "account_id: Field required" in msg
    assert "windw: Extra inputs are not permitted" in msg
    assert "batch_max_events" in msg


def test_password_is_never_echoed(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PES_AGENT_MQTT__PASSWORD", "s3cret")
    monkeypatch.setenv("PES_AGENT_MQTT__PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "mqtt.port" in str(info.value) and "s3cret" not in str(info.value)


def test_unreadable_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("device_id = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(bad)
