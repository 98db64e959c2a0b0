"""The straightforward rollup fold (collector/storage/rollups.py before it moved its per-event
work into C-level getters and counters): one event at a time, kept as the oracle that the
product's `fold` is checked against (tests/unit/collector/storage/test_rollups.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from collector.records import EventRow
from collector.storage.rollups import Deltas, session_seconds


@dataclass(slots=True)
class _Device:
    attrs: tuple[str, str, str, str]  # of the latest event: the registry shows the current state
    first_ms: int
    last_ms: int
    events: int


def fold_reference(fresh: Iterable[EventRow]) -> Deltas:
    """What collector.storage.rollups.fold returns, one event at a time."""
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
