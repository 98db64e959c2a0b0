"""The agent's typed settings: a TOML file (explicit path, or PES_AGENT_CONFIG) plus PES_AGENT_*
environment variables, nested with `__` (PES_AGENT_MQTT__PORT=1884). Environment variables
override the file, so one image/unit file serves a fleet and only the identity differs.

Read with tomllib and a few lines of code rather than pydantic-settings, which would bring in
10 MB of modules (dotenv, email, http...) on a gateway where the agent should stay under 40 MB.
Values of dict or list settings given in the environment are JSON (PES_AGENT_LABELS='{"a":"b"}').
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.errors import ConfigError
from shared import limits as L
from shared.models import Id, Key, Name, Value
from shared.mqtt import MqttSettings

CONFIG_ENV = "PES_AGENT_CONFIG"
ENV_PREFIX = "PES_AGENT_"
DEFAULT_BUFFER_PATH = Path("/var/lib/pes-agent/buffer.db")
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the terminating NUL


class AgentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    labels: Annotated[dict[Key, Value], Field(max_length=L.MAX_LABELS)] = Field(
        default_factory=dict
    )

    buffer_path: Path = DEFAULT_BUFFER_PATH
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    # Batching stays inside what the collector accepts (shared.limits).
    batch_max_events: int = Field(default=1000, ge=1, le=L.MAX_EVENTS_PER_BATCH)
    batch_max_bytes: int = Field(default=512 * 1024, ge=16 * 1024, le=L.MAX_PAYLOAD_BYTES)
    linger_ms: int = Field(default=200, ge=0, le=60_000)
    # Batches sent and not yet acked. A backlog drains at the collector's speed only if enough
    # is in flight for its group commits (measured: 8 x 500 events reached 0.5x, 32 x 1000 ~1x).
    window: int = Field(default=32, ge=1, le=1000)
    ack_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    # Events/s the publisher sends at most (token bucket, one second of burst); 0 = no limit.
    # Keeps a fleet that reconnects at once from flooding the broker; the default is above
    # what one collector ingests, so one gateway's backlog still drains at the collector's speed.
    drain_rate_eps: int = Field(default=100_000, ge=0)
    status_interval_s: float = Field(default=60.0, gt=0)

    # Disk: the buffer's files (database, WAL, shared memory) together stay within this.
    max_buffer_mb: float = Field(default=64, ge=1)
    # When it is full: drop the oldest events (counted, reported to the collector as drop
    # ranges) or refuse new ones (the caller gets BufferFull / an error reply).
    overflow: Literal["drop_oldest", "reject_new"] = "drop_oldest"

    # Local socket intake (newline-delimited JSON); default: next to the buffer, buffer.sock
    # for buffer.db.
    socket_enabled: bool = True
    socket_path: Path | None = None
    socket_mode: int = Field(default=0o660, ge=0, le=0o777)
    socket_max_line_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    socket_max_clients: int = Field(default=256, ge=1, le=65536)

    # Automatic sessions for feature_use events that come without a session_id.
    auto_sessions: bool = True
    session_idle_s: float = Field(default=1800.0, gt=0)

    # Prometheus text metrics on http://metrics_host:metrics_port/metrics; off unless set.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    @model_validator(mode="after")
    def _check(self) -> AgentSettings:
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
            self.mqtt = m.model_copy(update={"username": self.device_id})
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
        return self

    @property
    def socket_file(self) -> Path:
        return self.socket_path or self.buffer_path.with_suffix(".sock")

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
    try:
        return AgentSettings.model_validate(_merge(_merge(data, env), overrides))
    except ValidationError as exc:
        raise ConfigError(_explain(exc, toml)) from exc


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """PES_AGENT_MQTT__PORT=1884 -> {"mqtt": {"port": "1884"}} (pydantic converts the string);
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


def _explain(exc: ValidationError, toml: Path | None) -> str:
    where = f"{toml} and PES_AGENT_* variables" if toml else "PES_AGENT_* variables"
    lines = [f"invalid agent settings (from {where}):"]
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        line = f"  {key}: {err['msg']}"
        given = err.get("input")
        # Echo the offending value to make typos obvious, but never a secret.
        if err["type"] != "missing" and "password" not in key and isinstance(given, str | int):
            line += f" (got {str(given)[:80]!r})"
        lines.append(line)
    return "\n".join(lines)
