"""The agent's typed settings: a TOML file (explicit path, or PES_AGENT_CONFIG) plus PES_AGENT_*
environment variables, nested with `__` (PES_AGENT_MQTT__PORT=1884). Environment variables
override the file, so one image/unit file serves a fleet and only the identity differs.

Read with tomllib and checked with msgspec (the types carry the bounds) rather than pydantic or
pydantic-settings: on a gateway the agent should stay under 30 MB, and pydantic alone is ~8 MB
of modules. Every bad key is reported, not just the first.
Values of dict or list settings given in the environment are JSON (PES_AGENT_LABELS='{"a":"b"}').
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from agent.errors import ConfigError
from agent.wire import Id, Labels, Name
from shared import limits as L

__all__ = ["AgentSettings", "MqttSettings", "Secret", "load_settings"]

CONFIG_ENV = "PES_AGENT_CONFIG"
ENV_PREFIX = "PES_AGENT_"
DEFAULT_BUFFER_PATH = Path("/var/lib/pes-agent/buffer.db")
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the terminating NUL


class Secret:
    """A password: never shown in repr() or error messages (pydantic's SecretStr's API)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsInvalid(ValueError):
    """Every problem found, one line each ("key: why (got value)")."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class MqttSettings(msgspec.Struct, kw_only=True):
    """How to reach the broker: the keys, defaults and bounds of shared.mqtt.MqttSettings (the
    collector's, pydantic), without pydantic."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 1883
    username: str | None = None
    password: Secret | None = None
    keepalive: Annotated[int, Meta(ge=5, le=3600)] = 30
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    reconnect_initial_s: Annotated[float, Meta(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Meta(gt=0)] = 10.0

    def __post_init__(self) -> None:
        _validate_fields(self, "mqtt.")


class AgentSettings(msgspec.Struct, kw_only=True):
    """Every value is checked when the settings are made (AgentSettings(...) or
    load_settings()): ValueError (SettingsInvalid) naming each bad key."""

    # Identity, stamped on every event; device_id is also the MQTT client id.
    device_id: Id
    device_type: Name
    # The firmware version, or where to read it (at start and on SIGHUP): a file whose first
    # line is the version, or a command that prints it (a list, or a string split like a shell
    # would, run without one). With a source, firmware_version is the fallback should it fail
    # at start; without one it is required.
    firmware_version: Name | None = None
    firmware_file: Path | None = None
    firmware_command: str | list[str] | None = None
    account_id: Id
    labels: Labels = msgspec.field(default_factory=dict)

    buffer_path: Path = DEFAULT_BUFFER_PATH
    mqtt: MqttSettings = msgspec.field(default_factory=MqttSettings)

    # Batching stays inside what the collector accepts (shared.limits).
    batch_max_events: Annotated[int, Meta(ge=1, le=L.MAX_EVENTS_PER_BATCH)] = 1000
    batch_max_bytes: Annotated[int, Meta(ge=16 * 1024, le=L.MAX_PAYLOAD_BYTES)] = 512 * 1024
    linger_ms: Annotated[int, Meta(ge=0, le=60_000)] = 200
    # Batches sent and not yet acked. A backlog drains at the collector's speed only if enough
    # is in flight for its group commits (measured: 8 x 500 events reached 0.5x, 32 x 1000
    # ~1x; once the agent's own CPU per event fell, 64 kept the collector's writer busier:
    # docs/performance.md, "Agent drain: where the time goes").
    window: Annotated[int, Meta(ge=1, le=1000)] = 64
    ack_timeout_s: Annotated[float, Meta(gt=0, le=3600)] = 10.0
    # Events/s the publisher sends at most (token bucket, one second of burst); 0 = no limit.
    # Keeps a fleet that reconnects at once from flooding the broker; the default is above
    # what one collector ingests, so one gateway's backlog still drains at the collector's speed.
    drain_rate_eps: Annotated[int, Meta(ge=0)] = 100_000
    # The retained status is published when something a watcher cares about changes (online,
    # collection on/off, firmware, drops, rejections, failing writes), at most every
    # status_min_interval_s, and otherwise as a heartbeat every status_interval_s (buffer depth,
    # oldest age): a fleet of 10,000 idle gateways sends 17 statuses a second, not 170.
    status_interval_s: Annotated[float, Meta(gt=0)] = 600.0
    status_min_interval_s: Annotated[float, Meta(ge=0)] = 5.0

    # Disk: the buffer's files (database, WAL, shared memory) together stay within this.
    max_buffer_mb: Annotated[float, Meta(ge=1)] = 64.0
    # When it is full: drop the oldest events (counted, reported to the collector as drop
    # ranges) or refuse new ones (the caller gets BufferFull / an error reply).
    overflow: Literal["drop_oldest", "reject_new"] = "drop_oldest"
    # Disk headroom: when the buffer's file system has less than this free, the buffer stops
    # growing and `overflow` applies as if it were full (drops counted and reported as
    # ranges); it grows again by itself once there is room. 0 = off.
    min_free_mb: Annotated[float, Meta(ge=0)] = 0.0

    # Consent: "off" and the agent records nothing new (record() raises CollectionOff, the
    # socket answers an error saying why); what is already buffered is still sent.
    collection: Literal["on", "off"] = "on"
    # Share of feature_use events kept (1 = all): the others are answered but not stored, so a
    # fleet can be thinned out remotely; sessions are still tracked from every event.
    feature_sample_rate: Annotated[float, Meta(ge=0, le=1)] = 1.0

    # Local socket intake (newline-delimited JSON); default: next to the buffer, buffer.sock
    # for buffer.db.
    socket_enabled: bool = True
    socket_path: Path | None = None
    socket_mode: Annotated[int, Meta(ge=0, le=0o777)] = 0o660
    socket_max_line_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    socket_max_clients: Annotated[int, Meta(ge=1, le=65536)] = 256

    # Automatic sessions for feature_use events that come without a session_id.
    auto_sessions: bool = True
    session_idle_s: Annotated[float, Meta(gt=0)] = 1800.0

    # Prometheus text metrics on http://metrics_host:metrics_port/metrics; off unless set.
    metrics_port: Annotated[int, Meta(ge=1, le=65535)] | None = None
    metrics_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not isinstance(self.mqtt, MqttSettings):  # a table, as from TOML or kwargs
            self.mqtt = _mqtt_from(self.mqtt)
        _validate_fields(self, "")
        errors: list[str] = []
        try:
            self._check()
        except ValueError as exc:
            errors.append(str(exc))
        if errors:
            raise SettingsInvalid(errors)

    def _check(self) -> None:
        if self.firmware_file is not None and self.firmware_command is not None:
            raise ValueError("set firmware_file or firmware_command, not both")
        if (
            self.firmware_version is None
            and self.firmware_file is None
            and (self.firmware_command is None)
        ):
            raise ValueError("firmware_version is required (or firmware_file / firmware_command)")
        if isinstance(self.firmware_command, list) and not self.firmware_command:
            raise ValueError("firmware_command: empty")
        m = self.mqtt
        # The broker ACL confines a device to pes/v1/dev/<username>/: the username is the
        # device id. Defaulted when a password is set, refused when it says otherwise.
        if m.username is not None and m.username != self.device_id:
            raise ValueError(
                f"mqtt.username must equal device_id ({self.device_id!r}) or be left out"
            )
        if m.password is not None and m.username is None:
            m.username = self.device_id
        if not m.tls and (m.ca_file or m.cert_file or m.key_file):
            raise ValueError("mqtt.ca_file/cert_file/key_file are set but mqtt.tls is false")
        if m.key_file and not m.cert_file:
            raise ValueError("mqtt.key_file needs mqtt.cert_file")
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(m, key)
            if path and not Path(path).is_file():
                raise ValueError(f"mqtt.{key}: no such file: {path}")
        sock = self.socket_file
        if self.socket_enabled and len(os.fsencode(sock)) > MAX_SOCKET_PATH:
            raise ValueError(f"socket_path too long for a Unix socket (max 107 bytes): {sock}")

    @property
    def socket_file(self) -> Path:
        return self.socket_path or self.buffer_path.with_suffix(".sock")

    @property
    def min_free_bytes(self) -> int:
        return int(self.min_free_mb * 1024 * 1024)

    @property
    def max_buffer_bytes(self) -> int:
        return int(self.max_buffer_mb * 1024 * 1024)


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> AgentSettings:
    """Read settings from `config_path` (or $PES_AGENT_CONFIG) and the environment.

    Raises ConfigError whose message names each bad key and why."""
    raw = config_path if config_path is not None else os.environ.get(CONFIG_ENV)
    toml = Path(raw) if raw else None
    if toml is not None and not toml.is_file():
        raise ConfigError(f"config file not found: {toml}")
    data: dict[str, Any] = {}
    try:
        if toml is not None:
            with toml.open("rb") as fh:
                data = tomllib.load(fh)
    except (ValueError, OSError) as exc:  # TOML syntax, unreadable file
        raise ConfigError(f"cannot read agent settings from {toml}: {exc}") from exc
    try:
        env = _from_environment(os.environ)
    except ValueError as exc:
        raise ConfigError(f"cannot read agent settings from the environment: {exc}") from exc
    merged = _merge(_merge(data, env), overrides)
    # Every key first (unknown, missing, bad value), so one start-up names all of them.
    values, errors = _convert_mapping(AgentSettings, merged, "")
    mqtt = merged.get("mqtt", {})
    if isinstance(mqtt, Mapping):
        values["mqtt"], more = _convert_mapping(MqttSettings, mqtt, "mqtt.")
        errors += more
    if errors:
        raise ConfigError(_explain(errors, toml))
    try:
        values["mqtt"] = MqttSettings(**values["mqtt"])
        return AgentSettings(**values)
    except SettingsInvalid as exc:
        raise ConfigError(_explain(exc.errors, toml)) from exc


def _dec_hook(type_: type, obj: Any) -> Any:
    if isinstance(obj, type_):
        return obj
    if type_ is Path and isinstance(obj, str):
        return Path(obj)
    if type_ is Secret:
        if isinstance(obj, str):
            return Secret(obj)
        if callable(getattr(obj, "get_secret_value", None)):  # pydantic's SecretStr
            return Secret(obj.get_secret_value())
    raise NotImplementedError(f"expected {type_.__name__}")


def _convert(value: Any, hint: Any, key: str) -> tuple[Any, str | None]:
    try:
        return msgspec.convert(value, hint, strict=False, dec_hook=_dec_hook), None
    except msgspec.ValidationError as exc:
        what, sep, where = str(exc).rpartition(" - at `$")
        msg = what if sep else str(exc)
        if sep and where.strip("`"):
            key += where.rstrip("`").replace("[", ".").replace("]", "").replace("'", "")
        line = f"{key}: {msg}"
        # Echo the offending value to make typos obvious, but never a secret.
        if "password" not in key and isinstance(value, str | int) and not isinstance(value, bool):
            line += f" (got {str(value)[:80]!r})"
        return value, line


def _convert_mapping(
    cls: type[msgspec.Struct], data: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Any], list[str]]:
    """Each value converted to its field's type (strings from the environment become numbers),
    and every unknown key, missing key and bad value as one line each."""
    fields = {f.name: f for f in msgspec.structs.fields(cls)}
    out: dict[str, Any] = {}
    errors = [f"{prefix}{k}: Extra inputs are not permitted" for k in data if k not in fields]
    for name, f in fields.items():
        if name not in data:
            if f.required:
                errors.append(f"{prefix}{name}: Field required")
            continue
        if name == "mqtt":
            continue  # a table of its own: the caller converts it
        value, error = _convert(data[name], f.type, prefix + name)
        out[name] = value
        if error:
            errors.append(error)
    return out, errors


def _validate_fields(obj: msgspec.Struct, prefix: str) -> None:
    """(__post_init__) Check and convert every field of a Struct made by keyword arguments,
    which msgspec itself does not check."""
    errors = []
    for f in msgspec.structs.fields(type(obj)):
        if f.name == "mqtt":
            continue
        value, error = _convert(getattr(obj, f.name), f.type, prefix + f.name)
        if error:
            errors.append(error)
        else:
            setattr(obj, f.name, value)
    if errors:
        raise SettingsInvalid(errors)


def _mqtt_from(value: object) -> MqttSettings:
    """The agent's MqttSettings from a table ({"port": 1884}); anything else is refused (the
    collector's pydantic settings are another type: build the agent's own)."""
    if not isinstance(value, Mapping):
        got = type(value).__name__
        raise SettingsInvalid([f"mqtt: expected a table or MqttSettings, got {got}"])
    fields, errors = _convert_mapping(MqttSettings, value, "mqtt.")
    if errors:
        raise SettingsInvalid(errors)
    return MqttSettings(**fields)


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """PES_AGENT_MQTT__PORT=1884 -> {"mqtt": {"port": "1884"}} (converted to the key's type);
    a value that starts with { or [ is JSON."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX) or name.upper() == CONFIG_ENV:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"{name}: {key} is not a table")
        parsed: Any = value
        if value.lstrip()[:1] in ("{", "["):
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"{name}: not valid JSON: {exc}") from exc
        node[path[-1]] = parsed
    return out


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`top` wins; tables are merged key by key (the environment refines the file's [mqtt])."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _explain(errors: list[str], toml: Path | None) -> str:
    where = f"{toml} and PES_AGENT_* variables" if toml else "PES_AGENT_* variables"
    return "\n".join([f"invalid agent settings (from {where}):", *(f"  {e}" for e in errors)])
