"""Rollout of firmware versions (specs/releases.md, "Rollout"): pure, over a `Fleet`.

- Per day of [start, end] and device type: for each firmware version, the devices with an
  activity event of that type and version that day, and their share of the type's active devices
  that day (a device active on two versions in one day counts for both, once in the type's
  total). Only (day, type, version) with at least one active device are listed.
- Per (device type, version): the first and last day with any stored event of it (heartbeats
  included), over all stored history (from the runs).
"""

from __future__ import annotations

from datetime import date
from typing import TypedDict

import numpy as np

from collector.analytics.releases_fleet import Fleet, or_rows


class RolloutDay(TypedDict):
    day: str  # ISO date
    device_type: str
    firmware: str
    active: int
    share: float


class VersionSeen(TypedDict):
    device_type: str
    firmware: str
    first_day: str
    last_day: str


class Rollout(TypedDict):
    days: list[RolloutDay]
    versions: list[VersionSeen]


def rollout(fleet: Fleet, start: date, end: date) -> Rollout:
    lo, hi = start.toordinal(), end.toordinal()
    s, e = max(lo, fleet.day0), min(hi, fleet.day0 + fleet.n_days - 1)
    bits = fleet.act_days[:, max(s - fleet.day0, 0) : max(e - fleet.day0 + 1, 0)]
    n_t, n_f = len(fleet.types), max(len(fleet.firmwares), 1)
    n_cols = bits.shape[1]
    # distinct devices per (type, day): OR the rows of one (device, type) first
    uniq, inv = np.unique(fleet.act_device * max(n_t, 1) + fleet.act_type, return_inverse=True)
    per_device = or_rows(inv, bits, len(uniq))
    type_active = np.zeros((n_t, n_cols), np.int64)
    for t in range(n_t):
        type_active[t] = per_device[uniq % max(n_t, 1) == t].sum(axis=0)
    version = fleet.act_type * n_f + fleet.act_firmware  # rows are distinct per device
    version_active = np.zeros((n_t * n_f, n_cols), np.int64)
    for code in np.unique(version).tolist():
        version_active[code] = bits[version == code].sum(axis=0)
    days: list[RolloutDay] = []
    for col in range(n_cols):
        day = date.fromordinal(s + col).isoformat()
        for t, f in sorted(
            np.argwhere(version_active[:, col].reshape(n_t, n_f) > 0).tolist(),
            key=lambda tf: (fleet.types[tf[0]], fleet.firmwares[tf[1]]),
        ):
            active = int(version_active[t * n_f + f, col])
            days.append(
                {
                    "day": day,
                    "device_type": fleet.types[t],
                    "firmware": fleet.firmwares[f],
                    "active": active,
                    "share": active / int(type_active[t, col]),
                }
            )
    return {"days": days, "versions": _versions(fleet)}


def _versions(fleet: Fleet) -> list[VersionSeen]:
    seen: dict[tuple[str, str], tuple[int, int]] = {}
    for t, f, a, b in zip(
        fleet.run_type.tolist(),
        fleet.run_firmware.tolist(),
        fleet.run_first_day.tolist(),
        fleet.run_last_day.tolist(),
        strict=True,
    ):
        key = (fleet.types[t], fleet.firmwares[f])
        old = seen.get(key)
        seen[key] = (a, b) if old is None else (min(old[0], a), max(old[1], b))
    return [
        {
            "device_type": t,
            "firmware": f,
            "first_day": date.fromordinal(a).isoformat(),
            "last_day": date.fromordinal(b).isoformat(),
        }
        for (t, f), (a, b) in sorted(seen.items())
    ]
