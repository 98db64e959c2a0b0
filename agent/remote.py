"""Remote configuration, the agent's side: retained messages per fleet, device type and device
(shared/topics.py), merged in that order of precedence over the local settings, for the keys
that are safe to change while running. Everything else stays in the local settings file.

The message format, the keys and their bounds are shared/remote_config.py's (the collector
checks with it before publishing). An empty (retained-delete) payload removes that level. A
message with an unknown or unsafe key, or a bad value, is refused as a whole (the level keeps
its previous message) and the reason is reported in the status (`config_error`); the applied
levels' versions are in `config_version`.
"""

from __future__ import annotations

from typing import Any

from agent.settings import AgentSettings
from shared.remote_config import LEVELS, SAFE_KEYS, InvalidRemoteConfig, decode_message

__all__ = ["LEVELS", "SAFE_KEYS", "RemoteConfig"]


class RemoteConfig:
    def __init__(self, settings: AgentSettings) -> None:
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
            message = decode_message(payload)
        except InvalidRemoteConfig as exc:
            self.error = f"{level}: {exc}"[:300]
            return False
        self.error = None
        self._levels[level] = (message.version, message.settings)
        return True
