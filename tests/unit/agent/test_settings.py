import os
import tomllib
from pathlib import Path

import pytest

from agent.settings import AgentSettings, MqttSettings, SettingsInvalid, load_settings
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
    assert (s.batch_max_events, s.batch_max_bytes, s.linger_ms) == (1000, 512 * 1024, 200)
    assert (s.ack_timeout_s, s.max_buffer_mb, s.status_interval_s) == (10, 64, 600)


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


def test_mqtt_identity_and_tls_are_checked(config: Path, tmp_path: Path) -> None:
    text = config.read_text()
    config.write_text(text + 'password = "pw"\n')
    s = load_settings(config)
    assert s.mqtt.username == "gw-000123"  # defaulted to the device id with a password
    assert s.mqtt.password is not None and s.mqtt.password.get_secret_value() == "pw"
    config.write_text(text + 'username = "someone-else"\npassword = "pw"\n')
    with pytest.raises(ConfigError, match=r"mqtt\.username must equal device_id"):
        load_settings(config)
    config.write_text(text + f'ca_file = "{tmp_path / "ca.crt"}"\n')
    with pytest.raises(ConfigError, match="tls is false"):
        load_settings(config)
    config.write_text(text + f'tls = true\nca_file = "{tmp_path / "ca.crt"}"\n')
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(config)
    (tmp_path / "ca.crt").write_text("x")
    s = load_settings(config)
    assert s.mqtt.tls and s.mqtt.ca_file == str(tmp_path / "ca.crt")


def test_socket_and_limits(config: Path, tmp_path: Path) -> None:
    s = load_settings(config)
    assert s.socket_file == tmp_path / "buffer.sock" and s.socket_mode == 0o660
    assert (s.overflow, s.max_buffer_bytes, s.metrics_port) == ("drop_oldest", 64 << 20, None)
    config.write_text("socket_mode = 0o600\nmax_buffer_mb = 2.5\n" + config.read_text())
    s = load_settings(config)
    assert s.socket_mode == 0o600 and s.max_buffer_bytes == int(2.5 * 1024 * 1024)
    config.write_text(f'socket_path = "/{"x" * 120}.sock"\n' + config.read_text())
    with pytest.raises(ConfigError, match="too long"):
        load_settings(config)


IDENTITY = {"device_id": "gw-1", "device_type": "lathe-9", "firmware_version": "1.0",
            "account_id": "acme"}  # fmt: skip


def test_mqtt_from_a_table_is_converted_and_checked() -> None:
    s = AgentSettings(**IDENTITY, mqtt={"port": 1884, "keepalive": 5})  # type: ignore[arg-type]  # a table, as TOML gives it: converted by __post_init__
    assert isinstance(s.mqtt, MqttSettings)
    assert (s.mqtt.port, s.mqtt.keepalive, s.mqtt.host) == (1884, 5, "127.0.0.1")
    with pytest.raises(SettingsInvalid, match=r"mqtt\.port"):
        AgentSettings(**IDENTITY, mqtt={"port": 0})  # type: ignore[arg-type]  # as above


def test_mqtt_of_another_type_is_refused_not_copied_by_attribute() -> None:
    from shared.mqtt import MqttSettings as CollectorMqttSettings

    with pytest.raises(SettingsInvalid, match=r"^mqtt: expected a table or MqttSettings, got "):
        AgentSettings(**IDENTITY, mqtt=CollectorMqttSettings(port=1884))  # type: ignore[arg-type]  # the wrong type on purpose


def test_the_example_config_states_the_sending_defaults() -> None:
    """deploy/agent.example.toml documents the defaults of the settings that shape a drain."""
    example = Path(__file__).parents[3] / "deploy" / "agent.example.toml"
    doc = tomllib.loads(example.read_text())
    s = AgentSettings(device_id="d", device_type="t", firmware_version="1", account_id="a")
    keys = ("batch_max_events", "batch_max_bytes", "linger_ms", "window", "ack_timeout_s",
            "drain_rate_eps")  # fmt: skip
    assert {k: doc[k] for k in keys} == {k: getattr(s, k) for k in keys}
