"""PES agent: durable local buffer and MQTT sender for equipment gateways.

    from agent import Agent, AgentSettings, load_settings

    async with Agent(load_settings("agent.toml")) as agent:
        await agent.record("feature_use", "calibrate")

The public names are `__all__` (pinned by tests/unit/agent/test_public_api.py); the
errors' tree is in agent/errors.py. The names are imported on first use, so `import agent`
(and `pes-agent emit | status`) does not load asyncio and the MQTT client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agent._version import __version__
from agent.errors import (
    AgentError,
    AgentPermanentError,
    AgentRetryableError,
    AgentStopped,
    BufferCorrupt,
    BufferFull,
    BufferUnavailable,
    CollectionOff,
    ConfigError,
    InvalidEvent,
)

if TYPE_CHECKING:
    from agent.agent import Agent
    from agent.settings import AgentSettings, load_settings
    from agent.telemetry import AgentStats

__all__ = [
    "Agent",
    "AgentError",
    "AgentPermanentError",
    "AgentRetryableError",
    "AgentSettings",
    "AgentStats",
    "AgentStopped",
    "BufferCorrupt",
    "BufferFull",
    "BufferUnavailable",
    "CollectionOff",
    "ConfigError",
    "InvalidEvent",
    "__version__",
    "load_settings",
]

_LAZY = {
    "Agent": "agent.agent",
    "AgentSettings": "agent.settings",
    "load_settings": "agent.settings",
    "AgentStats": "agent.telemetry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
