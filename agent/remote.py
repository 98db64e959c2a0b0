"""Remote configuration, the agent's side: retained messages per fleet, device type and device
(shared/topics.py), merged in that order of precedence over the local settings, for the keys
that are safe to change while running. Everything else stays in the local settings file.

A message is JSON: {"version": "<any short text or number>", "settings": {key: value, ...}};
an empty (retained-delete) payload removes that level. A message with an unknown or unsafe key,
or a bad value, is refused as a whole (the level keeps its previous message) and the reason is
reported in the status (`config_error`); the applied levels' versions are in `config_version`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from agent.settings import AgentSettings

# Run-time-safe keys: read again by the agent's loops, no reconnect or reopen needed.
SAFE_KEYS = (
    "status_interval_s",
    "drain_rate_eps",
    "batch_max_events",
    "feature_sample_rate",
    "collection",
)
LEVELS = ("fleet", "type", "device")  # lowest precedence first
MAX_VERSION = 40


class RemoteConfig:
    def __init__(self, settings: AgentSettings) -> None:
        self._types = {f.name: f.type for f in msgspec.structs.fields(AgentSettings)}
        self.local = {k: getattr(settings, k) for k in SAFE_KEYS}
        self._levels: dict[str, tuple[str, dict[str, Any]]] = {}
        self.error: str | None = None

    @property
    def version(self) -> str | None:
        if not self._levels:
            return None
        return ";".join(f"{lv}={self._levels[lv][0]}" for lv in LEVELS if lv in self._levels)

    def effective(self) -> dict[str, Any]:
        """The values of the safe keys: local settings, then each level's in order."""
        out = dict(self.local)
        for level in LEVELS:
            if level in self._levels:
                out |= self._levels[level][1]
        return out

    def receive(self, level: str, payload: bytes) -> bool:
        """Take one level's message; True if the effective values may have changed."""
        if not payload:
            self.error = None
            return self._levels.pop(level, None) is not None
        try:
            version, values = self._parse(payload)
        except ValueError as exc:
            self.error = f"{level}: {exc}"[:300]
            return False
        self.error = None
        self._levels[level] = (version, values)
        return True

    def _parse(self, payload: bytes) -> tuple[str, dict[str, Any]]:
        try:
            doc = msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(doc, dict) or set(doc) - {"version", "settings"}:
            raise ValueError('expected {"version": ..., "settings": {...}}')
        version = doc.get("version")
        if not isinstance(version, str | int) or isinstance(version, bool):
            raise ValueError("version: a string or an integer is required")
        version = str(version)
        if not 0 < len(version) <= MAX_VERSION or ";" in version or "=" in version:
            raise ValueError(f"version: 1 to {MAX_VERSION} characters, no ; or =")
        given = doc.get("settings", {})
        if not isinstance(given, Mapping):
            raise ValueError("settings: an object is required")
        values: dict[str, Any] = {}
        for key, value in given.items():
            if key not in SAFE_KEYS:
                raise ValueError(f"{key}: not a setting that can change remotely "
                                 f"({', '.join(SAFE_KEYS)})")  # fmt: skip
            try:
                values[key] = msgspec.convert(value, self._types[key], strict=True)
            except msgspec.ValidationError as exc:
                raise ValueError(f"{key}: {exc}") from exc
        return version, values
