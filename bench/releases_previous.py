"""THE PREVIOUS RELEASE ENGINE (main at a8e011f), kept verbatim as the benchmark's same-run
baseline for collector.analytics.releases; not used by the product.

Release impact (specs/releases.md): before/after and difference-in-differences per firmware
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

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from collector.analytics.releases import ReleaseParams, ReleaseRow
from collector.analytics.releases_fleet import Bools, Fleet, Ints, or_rows
from collector.analytics.releases_stats import (
    bootstrap_means,
    bootstrap_p,
    excludes_zero,
    holm,
    percentile_interval,
    row_rng,
)

F64 = npt.NDArray[np.float64]
T = TypeVar("T", bound=np.generic)
_NONE = np.zeros(0, np.float64)
METRICS = ("active_share", "breadth", "uses_per_day")
DEFAULT_CORE_KEY = "*"
MEASURABLE, PENDING, CONFOUNDED, INACTIVE = 0, 1, 2, 3
_EMPTY, _MIXED = -1, -2  # day_config of a day without events / with events of two configs


@dataclass(frozen=True, slots=True)
class TransitionTable:
    """Every transition of the fleet (codes as in the Fleet), with its status for a report."""

    device: Ints
    device_type: Ints
    from_fw: Ints
    to_fw: Ints
    day: Ints
    status: Ints  # MEASURABLE / PENDING / CONFOUNDED / INACTIVE; -1 outside [start, end]


class _Days:
    """The fleet's per-device arrays cut to the columns [lo, lo + n - 1], with prefix sums.

    Prefix sums are day-major, (n + 1, rows): a window's sum is the difference of two
    contiguous rows, one vector operation over every device."""

    def __init__(self, fleet: Fleet, lo: int, n: int) -> None:
        self.fleet, self.lo, self.n = fleet, lo, n
        self.act = _prefix(or_rows(fleet.act_device, self.cut(fleet.act_days), len(fleet.devices)))
        self.used = self.cut(fleet.use_days)

    def cut(self, a: npt.NDArray[T]) -> npt.NDArray[T]:
        out = np.zeros((a.shape[0], self.n), a.dtype)
        s = max(self.lo, self.fleet.day0)
        e = min(self.lo + self.n, self.fleet.day0 + self.fleet.n_days)
        if s < e:
            out[:, s - self.lo : e - self.lo] = a[:, s - self.fleet.day0 : e - self.fleet.day0]
        return out

    def count(self, cum: Ints, a: int, b: int) -> Ints:
        """Per row: the sum over the days [a, b] (ordinals) of a _prefix array."""
        out: Ints = cum[b - self.lo + 1] - cum[a - self.lo]
        return out


def _prefix(rows: npt.NDArray[np.generic], day_major: bool = False) -> Ints:
    """(days + 1, rows) prefix sums over the days of a (rows, days) array (or (days, rows)).

    One vector add per day: np.cumsum along axis 0 is several times slower on wide arrays."""
    n_days = rows.shape[0] if day_major else rows.shape[1]
    out = np.zeros((n_days + 1, rows.shape[1] if day_major else rows.shape[0]), np.int64)
    for d in range(n_days):
        np.add(out[d], rows[d] if day_major else rows[:, d], out=out[d + 1])
    return out


def _report_days(fleet: Fleet, params: ReleaseParams) -> _Days:
    lo = params.start.toordinal() - params.window
    return _Days(fleet, lo, params.end.toordinal() + params.window - lo + 1)


def core_sets(
    fleet: Fleet, params: ReleaseParams, days: _Days | None = None
) -> dict[str, frozenset[str]]:
    """Core set per device type of the fleet (pes.md; the fallback over [start - W, end + W])."""
    days = days or _report_days(fleet, params)
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
    fleet: Fleet, params: ReleaseParams, active_cum: Ints, lo: int
) -> TransitionTable:
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


def day_configs(fleet: Fleet, lo: int, n: int, devices: Ints) -> Ints:
    """(n, len(devices)) config code (type * n_firmwares + firmware) of every event of each of
    `devices` (sorted codes) on the day; _EMPTY without events, _MIXED with two configs. From the
    runs: the days inside a run hold only its events (they are ordered between its ends)."""
    keep = (fleet.run_last_day >= lo) & (fleet.run_first_day <= lo + n - 1)
    keep &= np.isin(fleet.run_device, devices)
    dev = np.searchsorted(devices, fleet.run_device[keep])
    a = np.maximum(fleet.run_first_day[keep], lo) - lo
    b = np.minimum(fleet.run_last_day[keep], lo + n - 1) - lo + 1
    cfg = fleet.run_type[keep] * len(fleet.firmwares) + fleet.run_firmware[keep]
    cover = np.zeros((n + 1, len(devices)), np.int64)
    total = np.zeros((n + 1, len(devices)), np.int64)
    np.add.at(cover, (a, dev), 1)
    np.add.at(cover, (b, dev), -1)
    np.add.at(total, (a, dev), cfg)
    np.add.at(total, (b, dev), -cfg)
    for d in range(1, n):  # running sums over the days, in place
        cover[d] += cover[d - 1]
        total[d] += total[d - 1]
    cover, total = cover[:n], total[:n]
    return np.where(cover == 0, _EMPTY, np.where(cover == 1, total, _MIXED))


class _Group:
    """The devices that can matter for the measurable transitions of one (type, from): those
    with a run of that configuration in the report's days (a control has one: its activity in
    pre is such an event) and the transitioning devices; their metrics and eligibility."""

    def __init__(self, days: _Days, code: int, core: frozenset[str], movers: Ints) -> None:
        fleet, n_fw = days.fleet, max(len(days.fleet.firmwares), 1)
        runs = (fleet.run_type * n_fw + fleet.run_firmware == code) & (
            fleet.run_last_day >= days.lo
        )
        runs &= fleet.run_first_day <= days.lo + days.n - 1
        self.devices = np.union1d(fleet.run_device[runs], movers)
        self.days = days
        self.act = days.act[:, self.devices]
        self.uses = _prefix(days.cut(fleet.uses[self.devices]))
        cfg_day = day_configs(fleet, days.lo, days.n, self.devices)
        self.bad = _prefix((cfg_day != code) & (cfg_day != _EMPTY), day_major=True)
        self.core_size = len(core)
        if core:
            codes = [i for i, f in enumerate(fleet.features) if f in core]
            rows = np.isin(fleet.use_feature, codes) & np.isin(fleet.use_device, self.devices)
            pos = np.searchsorted(self.devices, fleet.use_device[rows])
            keys = pos * max(len(fleet.features), 1) + fleet.use_feature[rows]
            uniq, inv = np.unique(keys, return_inverse=True)
            self.used = _prefix(or_rows(inv, days.used[rows], len(uniq)))
            self.used_dev = uniq // max(len(fleet.features), 1)

    def positions(self, devices: Ints) -> Ints:
        return np.searchsorted(self.devices, devices)

    def _breadth(self, a: int, b: int) -> F64:
        hit = self.days.count(self.used, a, b) > 0
        return np.bincount(self.used_dev, weights=hit, minlength=len(self.devices)) / self.core_size

    def eligible(self, u: int, w: int) -> Bools:
        """Controls of a change on day u: activity in pre, every event of [u-w, u+w] in config."""
        quiet: Bools = self.days.count(self.bad, u - w, u + w) == 0
        return quiet & (self.days.count(self.act, u - w, u - 1) > 0)

    def windows(self, u: int, w: int) -> list[F64 | None]:
        """Per metric, (2, devices): the values over pre and post of a change on day u."""
        out: list[F64 | None] = []
        for metric in METRICS:
            if metric == "breadth":
                pair = None
                if self.core_size:
                    pair = np.stack([self._breadth(u - w, u - 1), self._breadth(u + 1, u + w)])
                out.append(pair)
            else:
                cum = self.act if metric == "active_share" else self.uses
                pre = self.days.count(cum, u - w, u - 1)
                post = self.days.count(cum, u + 1, u + w)
                out.append(np.stack([pre, post]).astype(np.float64) / w)
        return out


def release_report(fleet: Fleet, params: ReleaseParams) -> list[ReleaseRow]:
    """One row per release (device type, from, to) with a transition in [start, end] and metric,
    sorted by device type, from, to and metric (METRICS order)."""
    w = params.window
    days = _report_days(fleet, params)
    table = transition_table(fleet, params, days.act, days.lo)
    cores = core_sets(fleet, params, days)
    n_fw = max(len(fleet.firmwares), 1)
    shape = (len(METRICS), len(table.day))
    pre, post, ctrl = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    has_ctrl = np.zeros(len(table.day), np.bool_)
    measurable = table.status == MEASURABLE
    cfg = table.device_type * n_fw + table.from_fw
    for code in np.unique(cfg[measurable]).tolist():
        in_cfg = measurable & (cfg == code)
        group = _Group(days, code, cores[fleet.types[code // n_fw]], table.device[in_cfg])
        for u in np.unique(table.day[in_cfg]).tolist():
            members = np.flatnonzero(in_cfg & (table.day == u))
            dev = group.positions(table.device[members])
            eligible = group.eligible(u, w)
            eligible[dev] = False  # the transitioning devices (their `to` event is on day u)
            has_ctrl[members] = found = bool(eligible.any())
            for m, values in enumerate(group.windows(u, w)):
                if values is None:
                    continue
                pre[m, members], post[m, members] = values[0, dev], values[1, dev]
                if found:
                    ctrl[m, members] = float(np.mean(values[1, eligible] - values[0, eligible]))
    rows, p_values = _rows(fleet, params, table, pre, post, ctrl, has_ctrl)
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
