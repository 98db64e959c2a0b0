"""What the release engine reads (`Fleet`), and how to build it from events or from runs.

A storage layer provides, for the days `[day0, day0 + n_days - 1]` (ordinals; the engine needs
at least `[start - W, end + W]` of a report, days outside the arrays count as empty):

- **runs** (all stored history, see releases_runs): one row per firmware run, sorted by device
  then event order: device, device type, firmware, first day, last day;
- **activity** bits: one row per (device, device type, firmware) with a bit per day with an
  activity event of that combination (the activity_bits of a combination, labels merged);
- **feature** bits: one row per (device, device type, feature) with a bit per day with
  feature_use of that feature by events of that type (feature_bits of a combination);
- **uses**: feature_use events per device and day (all features), an (n_devices, n_days) array.

Names are integer codes into the vocabularies `devices`, `types`, `firmwares`, `features`.
`fleet_from_events` builds all of it from raw stored events (tests, the benchmark, a rebuild).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.analytics.releases_runs import FwEvent, Run, runs_from_events

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Counts = npt.NDArray[np.signedinteger[Any]]  # int32 or int64
ACTIVITY_KINDS = frozenset({"session_start", "session_end", "feature_use"})


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event after deduplication, its day already in the collector's time zone."""

    device_id: str
    device_type: str
    firmware_version: str
    kind: str
    feature: str | None
    day: int  # date.toordinal()
    ts: int  # corrected timestamp, ms
    event_id: str


@dataclass(frozen=True, slots=True)
class Fleet:
    day0: int
    n_days: int
    devices: tuple[str, ...]
    types: tuple[str, ...]
    firmwares: tuple[str, ...]
    features: tuple[str, ...]
    run_device: Ints  # (runs,) sorted by device, then event order
    run_type: Ints
    run_firmware: Ints
    run_first_day: Ints
    run_last_day: Ints
    act_device: Ints  # (k,) one row per (device, type, firmware)
    act_type: Ints
    act_firmware: Ints
    act_days: Bools  # (k, n_days)
    use_device: Ints  # (f,) one row per (device, type, feature)
    use_type: Ints
    use_feature: Ints
    use_days: Bools  # (f, n_days)
    uses: Counts  # (n_devices, n_days) feature_use events per device and day (int32 or int64)

    def __post_init__(self) -> None:
        """Cheap shape checks (O(rows), no per-day work): a wrong Fleet fails here, loudly."""
        n, d = len(self.devices), self.n_days
        groups = (
            ("run", (self.run_device, self.run_type, self.run_firmware, self.run_first_day,
                     self.run_last_day)),
            ("act", (self.act_device, self.act_type, self.act_firmware)),
            ("use", (self.use_device, self.use_type, self.use_feature)),
        )  # fmt: skip
        for name, arrays in groups:
            if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
                raise ValueError(f"Fleet: the {name}_* arrays differ in shape")
        if self.act_days.shape != (len(self.act_device), d):
            raise ValueError("Fleet: act_days must be (activity rows, n_days)")
        if self.use_days.shape != (len(self.use_device), d) or self.uses.shape != (n, d):
            raise ValueError(
                "Fleet: use_days must be (feature rows, n_days), uses (devices, n_days)"
            )
        if np.any(np.diff(self.run_device) < 0) or np.any(self.run_first_day > self.run_last_day):
            raise ValueError("Fleet: runs must be sorted by device, each first_day <= last_day")


class _Vocab:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, value: str) -> int:
        return self.index.setdefault(value, len(self.index))

    def values(self) -> tuple[str, ...]:
        return tuple(self.index)


def or_rows(index: Ints, rows: Bools, n: int) -> Bools:
    """(n, columns): row i is the OR of the rows whose index is i (a grouped reduce, not a
    ufunc.at, which is an order of magnitude slower on wide rows)."""
    out = np.zeros((n, rows.shape[1]), np.bool_)
    if not len(index):
        return out
    order = np.argsort(index, kind="stable")
    idx = index[order]
    starts = np.flatnonzero(np.concatenate([[True], idx[1:] != idx[:-1]]))
    # rank of each row within its group: one pass per rank, each index at most once in it
    rank = np.arange(len(idx)) - np.repeat(starts, np.diff(np.append(starts, len(idx))))
    first = order[rank == 0]
    out[index[first]] = rows[first]
    for r in range(1, int(rank.max()) + 1):
        more = order[rank == r]
        out[index[more]] |= rows[more]
    return out


def _ints(values: Sequence[int]) -> Ints:
    return np.asarray(values, dtype=np.int64).reshape(len(values))


def fleet_from_runs_and_bits(
    day0: int,
    n_days: int,
    runs: Mapping[str, Sequence[Run]],
    activity: Mapping[tuple[str, str, str], Iterable[int]],
    feature_use: Mapping[tuple[str, str, str], Mapping[int, int]],
) -> Fleet:
    """A Fleet from runs per device, activity days per (device, type, firmware) and feature_use
    counts per (device, type, feature) -> {day: uses}; days outside the columns are dropped."""
    dev, typ, fw, feat = _Vocab(), _Vocab(), _Vocab(), _Vocab()
    for name in sorted({*runs, *(k[0] for k in activity), *(k[0] for k in feature_use)}):
        dev.code(name)
    r_rows = [
        (dev.code(d), typ.code(r.device_type), fw.code(r.firmware), r.first_day, r.last_day)
        for d in sorted(runs)
        for r in runs[d]
    ]
    a_keys = sorted(activity)
    act_days = np.zeros((len(a_keys), n_days), np.bool_)
    for i, key in enumerate(a_keys):
        cols = [d - day0 for d in activity[key] if 0 <= d - day0 < n_days]
        act_days[i, cols] = True
    f_keys = sorted(feature_use)
    use_days = np.zeros((len(f_keys), n_days), np.bool_)
    uses = np.zeros((len(dev.index), n_days), np.int64)
    for i, key in enumerate(f_keys):
        for d, count in feature_use[key].items():
            if 0 <= d - day0 < n_days and count > 0:
                use_days[i, d - day0] = True
                uses[dev.code(key[0]), d - day0] += count
    act_codes = [(dev.code(k[0]), typ.code(k[1]), fw.code(k[2])) for k in a_keys]
    use_codes = [(dev.code(k[0]), typ.code(k[1]), feat.code(k[2])) for k in f_keys]
    return Fleet(
        day0=day0,
        n_days=n_days,
        devices=dev.values(),
        types=typ.values(),
        firmwares=fw.values(),
        features=feat.values(),
        run_device=_ints([r[0] for r in r_rows]),
        run_type=_ints([r[1] for r in r_rows]),
        run_firmware=_ints([r[2] for r in r_rows]),
        run_first_day=_ints([r[3] for r in r_rows]),
        run_last_day=_ints([r[4] for r in r_rows]),
        act_device=_ints([c[0] for c in act_codes]),
        act_type=_ints([c[1] for c in act_codes]),
        act_firmware=_ints([c[2] for c in act_codes]),
        act_days=act_days,
        use_device=_ints([c[0] for c in use_codes]),
        use_type=_ints([c[1] for c in use_codes]),
        use_feature=_ints([c[2] for c in use_codes]),
        use_days=use_days,
        uses=uses,
    )


def fleet_from_events(events: Iterable[Event], day0: int, n_days: int) -> Fleet:
    """A Fleet from stored events (deduplicated here by (device, event id))."""
    unique = {(e.device_id, e.event_id): e for e in events}
    fw_events: dict[str, list[FwEvent]] = {}
    activity: dict[tuple[str, str, str], set[int]] = {}
    feature_use: dict[tuple[str, str, str], dict[int, int]] = {}
    for e in unique.values():
        fw_events.setdefault(e.device_id, []).append(
            FwEvent(e.device_id, e.device_type, e.firmware_version, e.day, e.ts, e.event_id)
        )
        if e.kind in ACTIVITY_KINDS:
            activity.setdefault((e.device_id, e.device_type, e.firmware_version), set()).add(e.day)
        if e.kind == "feature_use" and e.feature is not None:
            per_day = feature_use.setdefault((e.device_id, e.device_type, e.feature), {})
            per_day[e.day] = per_day.get(e.day, 0) + 1
    runs = {d: runs_from_events(evs) for d, evs in fw_events.items()}
    return fleet_from_runs_and_bits(day0, n_days, runs, activity, feature_use)
