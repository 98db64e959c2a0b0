"""Incremental rollups: what a set of newly stored events adds to the per-day tables. Pure; each
backend writes the result with its own upserts in the same transaction as the events, so PES
queries never scan raw events and a late event is reflected as soon as it is committed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from collector.records import EventRow
from shared.models import ACTIVITY_KINDS

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


def _field(*names: str) -> Callable[[EventRow], Any]:
    """A C-level getter of EventRow fields by name: fold runs per stored event, and a getter
    over the tuple costs a fraction of a Python loop body's attribute reads."""
    return itemgetter(*(EventRow._fields.index(n) for n in names))


_ATTRS = ("device_id", "account_id", "device_type", "firmware_version")
_DAY_KEY = _field(*_ATTRS, "labels", "day")
_FEATURE_KEY = _field(*_ATTRS, "labels", "day", "feature")
_DEVICE = _field("device_id")
_TS = _field("ts_ms")
_KIND = EventRow._fields.index("kind")
_FEATURE = EventRow._fields.index("feature")
_KIND_OF = itemgetter(_KIND)
_FEATURE_OF = itemgetter(_FEATURE)


def fold(fresh: Iterable[EventRow]) -> Deltas:
    """Never pass duplicates: rollups count each stored event once.

    The rows come out in the order of their first event (PostgreSQL locks them in that order).
    Per event only C-level work remains (getters, Counter, groupby); Python runs per row of
    the result, per device run of the input and per session_end."""
    events = fresh if isinstance(fresh, list) else list(fresh)
    # The kinds present decide which per-event filters are needed at all (a write's events
    # are mostly of a few kinds; the load's are all feature_use with a feature).
    kinds = set(map(_KIND_OF, events))
    if kinds <= ACTIVITY_KINDS:
        active = events
    else:
        active = [ev for ev in events if ev[_KIND] in ACTIVITY_KINDS]
    uses: list[EventRow]
    if "feature_use" not in kinds:
        uses = []
    elif kinds == {"feature_use"} and None not in set(map(_FEATURE_OF, active)):
        uses = active
    else:
        uses = [e for e in active if e[_KIND] == "feature_use" and e[_FEATURE] is not None]
    features = Counter(map(_FEATURE_KEY, uses))
    activity: dict[tuple[str, str, str, str, str, str], int]
    if uses is active:
        # Every active event is a use: its day row's count is the sum of its features' (per
        # row of the result, not per event). Taken in the features' first-seen order, the
        # day rows come out in their own first-seen order too.
        activity = {}
        for key, n in features.items():
            day_key = key[:-1]
            activity[day_key] = activity.get(day_key, 0) + n
    else:
        activity = Counter(map(_DAY_KEY, active))
    sessions: dict[tuple[str, str, str, str, str, str], list[float]] = {}
    if "session_end" in kinds:
        for ev in active:
            if ev[_KIND] == "session_end":
                acc = sessions.setdefault(_DAY_KEY(ev), [0, 0.0])
                acc[0] += 1
                acc[1] += session_seconds(ev.props)
    return Deltas(
        [(*k, n) for k, n in activity.items()],
        [(*k, n) for k, n in features.items()],
        _devices(events),
        [(*k, int(n), s) for k, (n, s) in sessions.items()],
    )


def _devices(events: list[EventRow]) -> list[DeviceDelta]:
    """Per device: the attributes of its latest event (the last of equal timestamps, as if
    applied one by one), its first and last timestamps and its event count. A write's events
    come as runs of one device (a batch is one device's), so the work is per run."""
    out: dict[str, list[Any]] = {}  # device -> [attrs, first_ms, last_ms, events]
    for device, run in groupby(events, _DEVICE):
        evs = list(run)
        ts = list(map(_TS, evs))
        first, last = min(ts), max(ts)
        latest = evs[len(ts) - 1 - ts[::-1].index(last)]
        d = out.get(device)
        if d is None:
            out[device] = [_DAY_KEY(latest)[:4], first, last, len(evs)]
            continue
        if last >= d[2]:
            d[0], d[2] = _DAY_KEY(latest)[:4], last
        d[1] = min(d[1], first)
        d[3] += len(evs)
    return [(*attrs, first, last, n) for attrs, first, last, n in out.values()]


def session_seconds(props_json: str) -> float:
    """Duration of a session from its session_end's `duration_s` prop (0 when absent/invalid):
    the agent measures it on its monotonic clock, which wall-clock corrections cannot skew."""
    if "duration_s" not in props_json:
        return 0.0
    value = json.loads(props_json).get("duration_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 7 * 86400:
        return float(value)
    return 0.0
