"""How to reach the broker (pydantic): the collector's [mqtt] settings. In a module of its own
so that importing shared.mqtt (the client) does not import pydantic; `from shared.mqtt import
MqttSettings` still works."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MqttSettings(BaseModel):
    """How to reach the broker. The collector's; the agent has a msgspec twin
    (agent/settings.py) with the same keys, defaults and bounds."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=10.0, gt=0)
