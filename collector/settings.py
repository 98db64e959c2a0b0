"""The collector's typed settings: a TOML file (--config or PES_COLLECTOR_CONFIG) plus
PES_COLLECTOR_* environment variables (nested with `__`, e.g. PES_COLLECTOR_MQTT__PORT=1884)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from collector.errors import ConfigError
from shared.mqtt import MqttSettings
from shared.topics import DEFAULT_SHARE_GROUP

_Strict = ConfigDict(extra="forbid")


# `serve --role`: "all" ingests and answers everything; "ingest" ingests and answers only the
# operations routes and writes (no analytics state in memory); "api" answers the reads from a
# store it never writes to, e.g. a PostgreSQL read replica (docs/scaling.md).
Role = Literal["all", "ingest", "api"]
ROLES: tuple[Role, ...] = ("all", "ingest", "api")


class StorageSettings(BaseModel):
    model_config = _Strict
    url: str = "sqlite:///var/lib/pes/collector.db"
    retention_days: int = Field(default=400, ge=1)
    # The analytics state kept in a file, so that a restarted collector reads it and then only
    # the rows changed since (collector/reports/warmstart.py, docs/scaling.md "Restarts").
    # Without a directory it lives next to a SQLite store; PostgreSQL needs one.
    analytics_snapshot: bool = True
    analytics_snapshot_dir: str | None = None
    analytics_snapshot_interval_s: float = Field(default=600, ge=1)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite: or postgresql://")
        return v


class HealthSettings(BaseModel):
    """Entity health (pes.md): 25 frequency + 35 breadth + 25 key actions + 15 depth."""

    model_config = _Strict
    # frequency, breadth, key_actions, depth; they sum to 100 so health stays in 0..100
    weights: tuple[float, float, float, float] = (25, 35, 25, 15)
    # device type ("*" = default) -> key-action features; a type without one uses its core set
    key_actions: dict[str, list[str]] = Field(default_factory=dict)
    target_uses_per_30_days: float = Field(default=10, gt=0)
    target_session_minutes: float = Field(default=30, gt=0)
    at_risk_below: float = 30
    # Also at risk when health fell by at least this many points since the previous period.
    falling_points: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _weights_sum(self) -> HealthSettings:
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 100) > 1e-6:
            raise ValueError("health weights must be non-negative and sum to 100")
        return self


class PesSettings(BaseModel):
    model_config = _Strict
    timezone: str = "UTC"
    core_features: dict[str, list[str]] = Field(default_factory=dict)
    weights: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    low_sample_threshold: int = Field(default=30, ge=1)
    health: HealthSettings = Field(default_factory=HealthSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("core_features")
    @classmethod
    def _core_sizes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for k, feats in v.items():
            if not 1 <= len(feats) <= 10:
                raise ValueError(f"core_features[{k!r}] needs 1 to 10 features")
        return v

    @model_validator(mode="after")
    def _weights_sum(self) -> PesSettings:
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError("weights must be non-negative and sum to 1")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class IngestSettings(BaseModel):
    model_config = _Strict
    share_group: str = DEFAULT_SHARE_GROUP
    # Host and pid: containers all run as pid 1, and equal client ids take over each other's
    # MQTT session.
    client_id: str = Field(
        default_factory=lambda: f"pes-collector-{socket.gethostname()[:40]}-{os.getpid()}"
    )
    receive_maximum: int = Field(default=200, ge=1, le=65535)
    max_messages_per_commit: int = Field(default=200, ge=1)
    enabled: bool = True


class ScopedToken(BaseModel):
    """An API token with less than full access (docs/security.md): read-only (no write route),
    limited to some accounts (only routes that can filter by account, and only those), or
    both."""

    model_config = _Strict
    name: str = Field(min_length=1, max_length=100)  # for logs and problem details
    token: str = Field(min_length=16, max_length=512)
    read_only: bool = False
    accounts: list[str] | None = Field(default=None, min_length=1, max_length=10_000)

    @field_validator("accounts")
    @classmethod
    def _account_ids(cls, v: list[str] | None) -> list[str] | None:
        for a in v or ():
            if not 1 <= len(a) <= 64 or "\x00" in a:
                raise ValueError(f"account id {a[:70]!r} must be 1 to 64 characters, no NUL")
        return v


class ApiSettings(BaseModel):
    model_config = _Strict
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tokens: list[str] = Field(default_factory=list)  # full access
    scoped_tokens: list[ScopedToken] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> ApiSettings:
        every = [*self.tokens, *(t.token for t in self.scoped_tokens)]
        if any(not t.strip() or t != t.strip() for t in every):
            raise ValueError("API tokens cannot be empty or start or end with spaces")
        if len(set(every)) != len(every):
            raise ValueError("each API token must be different (tokens and scoped_tokens)")
        names = [t.name for t in self.scoped_tokens]
        if len(set(names)) != len(names):
            raise ValueError("each scoped token needs its own name")
        return self

    @property
    def open(self) -> bool:
        """No token configured: the API answers anyone (a warning at start-up)."""
        return not self.tokens and not self.scoped_tokens


class MetricsSettings(BaseModel):
    """What /metrics exports beyond ingest counters: the PES of the `pes_segments` largest
    segments (most active entities) of `pes_group_by` over the last `pes_period_days`, as
    gauges for Grafana. A bounded number of segments keeps Prometheus' cardinality bounded."""

    model_config = _Strict
    pes_group_by: str = Field(default="device_type,firmware_version", max_length=200)
    pes_segments: int = Field(default=20, ge=0, le=200)  # 0: no PES gauges
    pes_period_days: int = Field(default=30, ge=1, le=366)


class AlertRule(BaseModel):
    """A segment's PES (or a component) below a threshold, or an entity's health below a
    threshold or falling by some points; see docs/analytics.md."""

    model_config = _Strict
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["segment", "entity"] = "segment"
    metric: Literal["pes", "adoption", "stickiness", "growth", "health"] = "pes"
    below: float | None = None
    falling_by: float | None = Field(default=None, gt=0)  # entity rules: vs previous period
    group_by: str = "device_type,firmware_version"  # segment rules
    entity: Literal["device", "account"] = "device"
    stickiness: Literal["dau_mau", "dau_wau", "wau_mau"] = "dau_mau"
    filters: dict[str, str] = Field(default_factory=dict)
    period_days: int = Field(default=30, ge=1, le=366)
    min_active: int = Field(default=1, ge=0)  # segments with fewer active entities are skipped

    @model_validator(mode="after")
    def _sensible(self) -> AlertRule:
        if self.below is None and self.falling_by is None:
            raise ValueError("an alert rule needs `below` or `falling_by`")
        if (self.kind == "entity") != (self.metric == "health"):
            raise ValueError("entity rules watch `health`; segment rules a PES component")
        if self.falling_by is not None and self.kind != "entity":
            raise ValueError("`falling_by` applies to entity rules")
        return self


class AlertSettings(BaseModel):
    model_config = _Strict
    webhook_url: str | None = None
    interval_s: float = Field(default=3600, ge=1)
    retries: int = Field(default=4, ge=0, le=20)
    timeout_s: float = Field(default=10, gt=0)
    rules: list[AlertRule] = Field(default_factory=list)


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PES_COLLECTOR_", env_nested_delimiter="__", extra="forbid"
    )
    toml_path: ClassVar[Path | None] = None

    storage: StorageSettings = Field(default_factory=StorageSettings)
    pes: PesSettings = Field(default_factory=PesSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)


def load_settings(path: str | Path | None = None, **overrides: Any) -> CollectorSettings:
    """Read settings; raise ConfigError naming the bad key and why."""
    path = path or os.environ.get("PES_COLLECTOR_CONFIG")
    toml = Path(path) if path else None
    if toml is not None and not toml.is_file():
        raise ConfigError(f"config file not found: {toml}")

    class _Loaded(CollectorSettings):
        toml_path: ClassVar[Path | None] = toml

    try:
        loaded = _Loaded(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, toml)) from exc
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"{toml}: {exc}") from exc
    return loaded


def _explain(exc: ValidationError, toml: Path | None) -> str:
    where = f" in {toml}" if toml else ""
    lines = [f"invalid collector settings{where}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)
