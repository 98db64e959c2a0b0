"""Release impact (specs/releases.md): before/after and difference-in-differences per firmware
release, and the rollout of versions. Pure functions over a `Fleet` (releases_fleet), no I/O.

Reading of the contract where it leaves a choice (the rest is followed to the letter):
- Days are ordinals; every window is whole days. The engine works on the columns
  `[start - W, end + W]`, all a report can read; days outside the Fleet's arrays are empty.
- Transitions come from the runs (all stored history), so `confounded` also sees transitions
  outside `[start, end]`; two transitions on the same day confound each other.
- Breadth: the core set of the transition's device type (configured list, else the `*` list,
  else every feature that type's fleet used in `[start - W, end + W]`); a feature used in X under
  any device type counts. Empty core set: the breadth rows keep the counts, values are null.
- A row's counts are the same for its three metrics. Values are null where no transition counts:
  pre/post/change/change_ci without measurable transitions, control_change/did/did_ci without
  measurable transitions that have a control.
- `significant` is about `did_ci` (the causal estimate; null when there is none);
  `significant_holm` = significant and rejected by Holm over every row with a `did_ci` in the
  answer (p-values and seeding: releases_stats). `change_ci` is reported, not tested.
- Default period (`ReleaseParams.default`): as_of = yesterday, the last 90 days ending today.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from collector.analytics.releases_fleet import Bools, Counts, Fleet, Ints
from collector.analytics.releases_groups import Days, Measures, Sums, measure_group
from collector.analytics.releases_stats import (
    bootstrap_means,
    bootstrap_p,
    excludes_zero,
    holm,
    percentile_interval,
    row_rng,
)

F64 = npt.NDArray[np.float64]
_NONE = np.zeros(0, np.float64)
METRICS = ("active_share", "breadth", "uses_per_day")
DEFAULT_CORE_KEY = "*"
MEASURABLE, PENDING, CONFOUNDED, INACTIVE = 0, 1, 2, 3

ReleaseRow = TypedDict(
    "ReleaseRow",
    {
        "device_type": str,
        "from": str,
        "to": str,
        "metric": str,
        "transitions": int,
        "measurable": int,
        "pending": int,
        "confounded": int,
        "inactive": int,
        "no_control": int,
        "pre_mean": float | None,
        "post_mean": float | None,
        "change": float | None,
        "change_ci": list[float] | None,
        "control_change": float | None,
        "did": float | None,
        "did_ci": list[float] | None,
        "significant": bool | None,
        "significant_holm": bool | None,
    },
)


@dataclass(frozen=True, slots=True)
class ReleaseParams:
    start: date
    end: date
    as_of: date
    window: int = 14
    core_features: Mapping[str, Sequence[str]] = field(default_factory=dict)
    resamples: int = 1000
    seed: int = 0
    # Which rows make the answer (Holm's correction runs over these only); None: all.
    device_type: str | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.window <= 60:
            raise ValueError("window must be 1 to 60 days")
        if self.start > self.end:
            raise ValueError("start is after end")
        if self.resamples < 1:
            raise ValueError("resamples must be at least 1")
        if self.metric is not None and self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}")

    @classmethod
    def default(cls, today: date, window: int = 14) -> ReleaseParams:
        return cls(today - timedelta(days=89), today, today - timedelta(days=1), window)


@dataclass(frozen=True, slots=True)
class TransitionTable:
    """Every transition of the fleet (codes as in the Fleet), with its status for a report."""

    device: Ints
    device_type: Ints
    from_fw: Ints
    to_fw: Ints
    day: Ints
    status: Ints  # MEASURABLE / PENDING / CONFOUNDED / INACTIVE; -1 outside [start, end]


def report_days(fleet: Fleet, params: ReleaseParams) -> Days:
    lo = params.start.toordinal() - params.window
    return Days(fleet, lo, params.end.toordinal() + params.window - lo + 1)


def core_sets(
    fleet: Fleet, params: ReleaseParams, days: Days | None = None
) -> dict[str, frozenset[str]]:
    """Core set per device type of the fleet (pes.md; the fallback over [start - W, end + W])."""
    days = days or report_days(fleet, params)
    any_use = days.used.any(axis=1)
    out: dict[str, frozenset[str]] = {}
    for code, name in enumerate(fleet.types):
        names = params.core_features.get(name, params.core_features.get(DEFAULT_CORE_KEY))
        if names is None:
            feats = np.unique(fleet.use_feature[any_use & (fleet.use_type == code)])
            names = [fleet.features[int(f)] for f in feats]
        out[name] = frozenset(names)
    return out


def transition_table(
    fleet: Fleet, params: ReleaseParams, active_cum: Counts, lo: int
) -> TransitionTable:
    """`active_cum`: (days + 1, devices) prefix sums of activity days from ordinal `lo`."""
    same = fleet.run_device[1:] == fleet.run_device[:-1]
    at = np.flatnonzero(same & (fleet.run_firmware[1:] != fleet.run_firmware[:-1])) + 1
    dev, day = fleet.run_device[at], fleet.run_first_day[at]
    w = params.window
    keys = np.sort(dev * (1 << 32) + day)
    near = np.searchsorted(keys, dev * (1 << 32) + day + w, "right")
    near -= np.searchsorted(keys, dev * (1 << 32) + day - w, "left")
    start, end, as_of = params.start.toordinal(), params.end.toordinal(), params.as_of.toordinal()
    status = np.full(len(at), -1, np.int64)
    inside = (day >= start) & (day <= end)
    col = np.where(inside, day - lo, w)  # a valid column for the rows outside too
    pre = active_cum[col, dev] - active_cum[col - w, dev]
    status[inside] = MEASURABLE
    status[inside & (pre == 0)] = INACTIVE
    status[inside & (near > 1)] = CONFOUNDED
    status[inside & (day + w > as_of)] = PENDING
    return TransitionTable(
        dev, fleet.run_type[at], fleet.run_firmware[at - 1], fleet.run_firmware[at], day, status
    )


@dataclass(frozen=True, slots=True)
class Measured:
    """Everything of a report that the bootstrap does not touch: the transitions with their
    status and, per metric and transition, the values over pre and post and the control's
    change. It depends on the Fleet and on `measure_key(params)` only, so a caller may keep it
    for as long as it keeps the Fleet and answer later requests with `report_rows`."""

    table: TransitionTable
    values: Measures
    # What releases_update needs to adjust it for changed devices: the parameters, the core
    # sets, and per configuration (type, from firmware) its controls' sums.
    params: ReleaseParams | None = None
    cores: Mapping[str, frozenset[str]] = field(default_factory=dict)
    sums: Mapping[tuple[int, int], Sums] = field(default_factory=dict)


def measure_key(params: ReleaseParams) -> tuple[object, ...]:
    """The parameters a `Measured` depends on (not resamples, seed, device_type, metric)."""
    core = tuple(sorted((k, tuple(sorted(v))) for k, v in params.core_features.items()))
    return (params.start, params.end, params.as_of, params.window, core)


def measure(fleet: Fleet, params: ReleaseParams) -> Measured:
    w = params.window
    days = report_days(fleet, params)
    table = transition_table(fleet, params, days.act, days.lo)
    cores = core_sets(fleet, params, days)
    n_fw = max(len(fleet.firmwares), 1)
    values = Measures.empty(len(METRICS), len(table.day))
    measurable = table.status == MEASURABLE
    cfg = table.device_type * n_fw + table.from_fw
    sums = {}
    for code in np.unique(cfg[measurable]).tolist():
        idx = np.flatnonzero(measurable & (cfg == code))
        core_codes, core_size = core_of(fleet, cores, code)
        sums[divmod(code, n_fw)] = measure_group(
            days, code, core_codes, core_size, idx, table.device[idx], table.day[idx], w, values
        )
    return Measured(table, values, params, cores, sums)


def core_of(fleet: Fleet, cores: Mapping[str, frozenset[str]], code: int) -> tuple[Ints, int]:
    """The feature codes (ascending) of configuration `code`'s core set, and its size (features
    the fleet does not know count, unused)."""
    core = cores[fleet.types[code // max(len(fleet.firmwares), 1)]]
    features = {f: i for i, f in enumerate(fleet.features)}
    return np.asarray(sorted(features[f] for f in core if f in features), np.int64), len(core)


def release_report(fleet: Fleet, params: ReleaseParams) -> list[ReleaseRow]:
    """One row per release (device type, from, to) with a transition in [start, end] and metric,
    sorted by device type, from, to and metric (METRICS order)."""
    return report_rows(fleet, params, measure(fleet, params))


def report_rows(fleet: Fleet, params: ReleaseParams, measured: Measured) -> list[ReleaseRow]:
    """The rows of `release_report` from a `measure` of the same Fleet and measure_key."""
    v = measured.values
    rows, p_values = _rows(fleet, params, measured.table, v.pre, v.post, v.ctrl, v.has_ctrl)
    keep = [
        i
        for i, r in enumerate(rows)
        if params.device_type in (None, r["device_type"]) and params.metric in (None, r["metric"])
    ]
    rows, p_values = [rows[i] for i in keep], [p_values[i] for i in keep]
    _holm_rows(rows, p_values)
    return rows


def _rows(
    fleet: Fleet,
    params: ReleaseParams,
    table: TransitionTable,
    pre: F64,
    post: F64,
    ctrl: F64,
    has_ctrl: Bools,
) -> tuple[list[ReleaseRow], list[float | None]]:
    inside = table.status >= 0
    releases = {
        (fleet.types[t], fleet.firmwares[f], fleet.firmwares[g]): (t, f, g)
        for t, f, g in zip(
            table.device_type[inside].tolist(),
            table.from_fw[inside].tolist(),
            table.to_fw[inside].tolist(),
            strict=True,
        )
    }
    rows: list[ReleaseRow] = []
    p_values: list[float | None] = []
    for names in sorted(releases):
        if params.device_type not in (None, names[0]):
            continue  # left out of the answer: no bootstrap (its draws are its own)
        t, f, g = releases[names]
        sel = inside & (table.device_type == t) & (table.from_fw == f) & (table.to_fw == g)
        status = table.status[sel]
        meas = sel & (table.status == MEASURABLE)
        counts = [int(np.sum(status == s)) for s in (MEASURABLE, PENDING, CONFOUNDED, INACTIVE)]
        no_control = int(np.sum(meas & ~has_ctrl))
        # metrics with values: all but breadth of a type without core set (NaN)
        have = [m for m in range(len(METRICS)) if meas.any() and not np.isnan(pre[m, meas]).any()]
        did_sel = meas & has_ctrl
        deltas = {m: post[m, meas] - pre[m, meas] for m in have}
        dids = {m: post[m, did_sel] - pre[m, did_sel] - ctrl[m, did_sel] for m in have}
        change_boot = _boot(deltas, params, *names, "change")
        did_boot = _boot(dids, params, *names, "did")
        for m, metric in enumerate(METRICS):
            ok = meas if m in have else np.zeros_like(meas)
            did_ok = ok & has_ctrl
            delta, did_values = deltas.get(m, _NONE), dids.get(m, _NONE)
            change = change_boot.get(m)
            did = did_boot.get(m)
            did_ci = None if did is None else did[0]
            p_values.append(None if did is None else did[1])
            rows.append(
                {
                    "device_type": names[0],
                    "from": names[1],
                    "to": names[2],
                    "metric": metric,
                    "transitions": int(np.sum(sel)),
                    "measurable": counts[0],
                    "pending": counts[1],
                    "confounded": counts[2],
                    "inactive": counts[3],
                    "no_control": no_control,
                    "pre_mean": _mean(pre[m, ok]),
                    "post_mean": _mean(post[m, ok]),
                    "change": _mean(delta),
                    "change_ci": None if change is None else change[0],
                    "control_change": _mean(ctrl[m, did_ok]),
                    "did": _mean(did_values),
                    "did_ci": did_ci,
                    "significant": None
                    if did_ci is None
                    else excludes_zero((did_ci[0], did_ci[1])),
                    "significant_holm": None,
                }
            )
    return rows, p_values


def _mean(values: F64) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _boot(
    values: dict[int, F64], params: ReleaseParams, *parts: str
) -> dict[int, tuple[list[float], float]]:
    """Per metric: the bootstrap interval of the mean and its p-value. The metrics of one
    release and estimate share their resamples (the same transitions are drawn for each)."""
    if not values or not len(next(iter(values.values()))):
        return {}
    stacked = np.stack(list(values.values()))
    means = bootstrap_means(stacked, params.resamples, row_rng(params.seed, *parts))
    return {
        m: (list(percentile_interval(row)), bootstrap_p(row))
        for m, row in zip(values, means, strict=True)
    }


def _holm_rows(rows: list[ReleaseRow], p_values: list[float | None]) -> None:
    """significant_holm over every row with a did interval (Holm, family-wise 5%)."""
    family = [i for i, p in enumerate(p_values) if p is not None]
    rejected = holm([p for p in p_values if p is not None])
    for i, reject in zip(family, rejected, strict=True):
        rows[i]["significant_holm"] = bool(rows[i]["significant"]) and reject
