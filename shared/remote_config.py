"""Remote configuration messages: the one schema both sides use. The collector checks a message
with it before publishing (`pes-collector agents config set`), the agent checks every message
it receives with it (agent/remote.py), so a message the collector publishes is one the agent
applies.

A message is retained on one of three topics (shared/topics.py: fleet, device type, device) and
is JSON: {"version": "<1-40 characters, or an integer>", "settings": {key: value, ...}}; an empty
payload removes that level. Only the keys an agent can change while running are allowed, each
with the type and bounds of its local setting (agent/settings.py;
tests/unit/shared/test_remote_config.py proves both accept and refuse the same values).

Plain Python (json, no msgspec or pydantic): both processes can import it at no cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import limits as L
from shared.errors import ConfigError

LEVELS = ("fleet", "type", "device")  # lowest precedence first
MAX_VERSION = 40


class InvalidRemoteConfig(ConfigError):
    """A remote configuration message (or one key=value of it) that an agent would refuse."""


def _number(*, gt: float | None = None, ge: float | None = None,
            le: float | None = None) -> Callable[[object], float]:  # fmt: skip
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"a number is required, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError("a finite number is required")
        if gt is not None and not value > gt:
            raise ValueError(f"must be > {gt:g}")
        if ge is not None and not value >= ge:
            raise ValueError(f"must be >= {ge:g}")
        if le is not None and not value <= le:
            raise ValueError(f"must be <= {le:g}")
        return float(value)

    return check


def _integer(*, ge: int, le: int | None = None) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"an integer is required, got {type(value).__name__}")
        if value < ge:
            raise ValueError(f"must be >= {ge}")
        if le is not None and value > le:
            raise ValueError(f"must be <= {le}")
        return value

    return check


def _choice(*options: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in options:
            raise ValueError(f"one of {', '.join(map(repr, options))} is required")
        assert isinstance(value, str)
        return value

    return check


# The run-time-safe keys: the agent's loops read them again, no reconnect or reopen needed.
# Bounds as in agent/settings.py (the local settings of the same names).
RULES: Mapping[str, Callable[[object], object]] = {
    "status_interval_s": _number(gt=0),
    "drain_rate_eps": _integer(ge=0),
    "batch_max_events": _integer(ge=1, le=L.MAX_EVENTS_PER_BATCH),
    "feature_sample_rate": _number(ge=0, le=1),
    "collection": _choice("on", "off"),
}
SAFE_KEYS = tuple(RULES)


@dataclass(frozen=True, slots=True)
class ConfigMessage:
    version: str
    settings: dict[str, Any]


def check_value(key: str, value: object) -> Any:
    """`value` as the agent applies it; InvalidRemoteConfig naming the key and why."""
    rule = RULES.get(key)
    if rule is None:
        raise InvalidRemoteConfig(
            f"{key[:60]}: not a setting that can change remotely ({', '.join(SAFE_KEYS)})"
        )
    try:
        return rule(value)
    except ValueError as exc:
        raise InvalidRemoteConfig(f"{key}: {exc}") from exc


def check_version(version: object) -> str:
    if isinstance(version, bool) or not isinstance(version, str | int):
        raise InvalidRemoteConfig("version: a string or an integer is required")
    text = str(version)
    if not 0 < len(text) <= MAX_VERSION or ";" in text or "=" in text or not text.isprintable():
        raise InvalidRemoteConfig(f"version: 1 to {MAX_VERSION} printable characters, no ; or =")
    return text


def check_message(doc: object) -> ConfigMessage:
    """A decoded message, checked whole: the first problem raises InvalidRemoteConfig."""
    if not isinstance(doc, dict) or set(doc) - {"version", "settings"} or "version" not in doc:
        raise InvalidRemoteConfig('expected {"version": ..., "settings": {...}}')
    version = check_version(doc["version"])
    given = doc.get("settings", {})
    if not isinstance(given, dict):
        raise InvalidRemoteConfig("settings: an object is required")
    return ConfigMessage(version, {k: check_value(k, v) for k, v in given.items()})


def decode_message(payload: bytes) -> ConfigMessage:
    """A received payload (not empty: an empty one removes the level, the caller's case)."""
    try:
        doc = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidRemoteConfig(f"not JSON: {str(exc)[:100]}") from exc
    return check_message(doc)


def encode_message(message: ConfigMessage) -> bytes:
    """The payload to publish, after checking it as the agent will."""
    checked = check_message({"version": message.version, "settings": message.settings})
    doc = {"version": checked.version, "settings": checked.settings}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def parse_assignment(text: str) -> tuple[str, Any]:
    """`key=value` from a command line: the value as JSON when it reads as JSON (300, 0.5),
    else as text (off); checked as the agent will."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InvalidRemoteConfig(f"{text[:60]!r}: expected key=value")
    try:
        value: object = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        value = raw.strip()
    return key, check_value(key, value)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")
