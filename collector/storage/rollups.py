"""Incremental rollups: what a set of newly stored events adds to the per-day tables. Pure; each
backend writes the result with its own upserts in the same transaction as the events, so PES
queries never scan raw events and a late event is reflected as soon as it is committed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from collector.records import EventRow

# (device_id, account_id, device_type, firmware_version, labels, day, events)
ActivityDelta = tuple[str, str, str, str, str, str, int]
# (device_id, account_id, device_type, firmware_version, labels, day, feature, uses)
FeatureDelta = tuple[str, str, str, str, str, str, str, int]
# (device_id, account_id, device_type, firmware_version, labels, day, sessions, seconds)
SessionDelta = tuple[str, str, str, str, str, str, int, float]
# (device_id, account_id, device_type, firmware_version, first_seen_ms, last_seen_ms, events)
DeviceDelta = tuple[str, str, str, str, int, int, int]


@dataclass(frozen=True, slots=True)
class Deltas:
    activity: list[ActivityDelta]
    features: list[FeatureDelta]
    devices: list[DeviceDelta]
    sessions: list[SessionDelta]


@dataclass(slots=True)
class _Device:
    attrs: tuple[str, str, str, str]  # of the latest event: the registry shows the current state
    first_ms: int
    last_ms: int
    events: int


def fold(fresh: Iterable[EventRow]) -> Deltas:
    """Never pass duplicates: rollups count each stored event once."""
    activity: Counter[tuple[str, str, str, str, str, str]] = Counter()
    features: Counter[tuple[str, str, str, str, str, str, str]] = Counter()
    devices: dict[str, _Device] = {}
    sessions: dict[tuple[str, str, str, str, str, str], list[float]] = {}
    for ev in fresh:
        attrs = (ev.device_id, ev.account_id, ev.device_type, ev.firmware_version)
        if ev.is_activity:
            activity[(*attrs, ev.labels, ev.day)] += 1
            if ev.kind == "feature_use" and ev.feature is not None:
                features[(*attrs, ev.labels, ev.day, ev.feature)] += 1
            elif ev.kind == "session_end":
                acc = sessions.setdefault((*attrs, ev.labels, ev.day), [0, 0.0])
                acc[0] += 1
                acc[1] += session_seconds(ev.props)
        d = devices.get(ev.device_id)
        if d is None:
            devices[ev.device_id] = _Device(attrs, ev.ts_ms, ev.ts_ms, 1)
            continue
        if ev.ts_ms >= d.last_ms:
            d.attrs, d.last_ms = attrs, ev.ts_ms
        d.first_ms = min(d.first_ms, ev.ts_ms)
        d.events += 1
    return Deltas(
        [(*k, n) for k, n in activity.items()],
        [(*k, n) for k, n in features.items()],
        [(*d.attrs, d.first_ms, d.last_ms, d.events) for d in devices.values()],
        [(*k, int(n), s) for k, (n, s) in sessions.items()],
    )


def session_seconds(props_json: str) -> float:
    """Duration of a session from its session_end's `duration_s` prop (0 when absent/invalid):
    the agent measures it on its monotonic clock, which wall-clock corrections cannot skew."""
    if "duration_s" not in props_json:
        return 0.0
    value = json.loads(props_json).get("duration_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 7 * 86400:
        return float(value)
    return 0.0
