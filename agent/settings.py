"""The agent's typed settings: a TOML file (explicit path, or PES_AGENT_CONFIG) plus PES_AGENT_*
environment variables, nested with `__` (PES_AGENT_MQTT__PORT=1884). Environment variables
override the file, so one image/unit file serves a fleet and only the identity differs."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.errors import ConfigError
from shared import limits as L
from shared.models import Id, Key, Name, Value
from shared.mqtt import MqttSettings

CONFIG_ENV = "PES_AGENT_CONFIG"
DEFAULT_BUFFER_PATH = Path("/var/lib/pes-agent/buffer.db")

# The TOML path for the settings being built right now. A context variable rather than a class
# attribute, so that loading settings never mutates a class shared by other callers or threads.
_toml_path: ContextVar[Path | None] = ContextVar("pes_agent_toml_path", default=None)


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PES_AGENT_", env_nested_delimiter="__", extra="forbid"
    )

    # Identity, stamped on every event; device_id is also the MQTT client id.
    device_id: Id
    device_type: Name
    firmware_version: Name
    account_id: Id
    labels: Annotated[dict[Key, Value], Field(max_length=L.MAX_LABELS)] = Field(
        default_factory=dict
    )

    buffer_path: Path = DEFAULT_BUFFER_PATH
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    # Batching stays inside what the collector accepts (shared.limits).
    batch_max_events: int = Field(default=500, ge=1, le=L.MAX_EVENTS_PER_BATCH)
    batch_max_bytes: int = Field(default=256 * 1024, ge=4096, le=L.MAX_PAYLOAD_BYTES)
    linger_ms: int = Field(default=200, ge=0, le=60_000)
    window: int = Field(default=4, ge=1, le=1000)
    ack_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    max_buffer_mb: int = Field(default=64, ge=1)  # stored now, enforced by a later version
    status_interval_s: float = Field(default=60.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: explicit arguments, then the environment, then the file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path.get()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> AgentSettings:
    """Read settings from `config_path` (or $PES_AGENT_CONFIG) and the environment.

    Raises ConfigError whose message names each bad key and why."""
    raw = config_path if config_path is not None else os.environ.get(CONFIG_ENV)
    toml = Path(raw) if raw else None
    if toml is not None and not toml.is_file():
        raise ConfigError(f"config file not found: {toml}")
    token = _toml_path.set(toml)
    try:
        return AgentSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, toml)) from exc
    except (ValueError, OSError) as exc:  # TOML syntax (tomllib), unreadable file, bad env JSON
        where = str(toml) if toml else "environment"
        raise ConfigError(f"cannot read agent settings from {where}: {exc}") from exc
    finally:
        _toml_path.reset(token)


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
