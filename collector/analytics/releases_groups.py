"""The release engine's measurement (specs/releases.md, "Per-device metrics" and "Control"):
per transition, its metrics over pre and post and the mean change of its control devices.

Vectorised over the days of change: the devices that can matter for one (device type, from)
form a group, each quantity is a day-major prefix sum over the report's days ((days + 1,
devices), one vector add per day), and a window's sum for every day of change at once is the
difference of two gathered rows, (days of change, devices): contiguous copies, where gathering
columns of a device-major array cost ten times more. A control mean is
the integer sum of the eligible devices' changes divided once by their number and by W (or by
the core set's size); the per-day loop this replaced averaged the float quotients instead, which
differs only in the last bits (the property tests check 1e-6 against the reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from collector.analytics.releases_fleet import Counts, Fleet, Ints, or_rows

F64 = npt.NDArray[np.float64]
T = TypeVar("T", bound=np.generic)
ACTIVE, BREADTH, USES = 0, 1, 2  # metric rows, in METRICS order


class Days:
    """The report's columns [lo, lo + n - 1] of a Fleet (days outside its arrays are empty) and
    every device's activity as a day-major prefix sum over them, (n + 1, devices)."""

    def __init__(self, fleet: Fleet, lo: int, n: int) -> None:
        self.fleet, self.lo, self.n = fleet, lo, n
        every = np.arange(len(fleet.act_device))
        days = or_rows(fleet.act_device, self.cut(fleet.act_days, every), len(fleet.devices))
        self.act = prefix(days, np.int32)  # (devices, n + 1)
        self.used = self.cut(fleet.use_days, np.arange(len(fleet.use_device)))

    def cut(self, a: npt.NDArray[T], rows: Ints) -> npt.NDArray[T]:
        """Rows `rows` of a (rows, fleet days) array, on the report's columns."""
        out = np.zeros((len(rows), self.n), a.dtype)
        s = max(self.lo, self.fleet.day0)
        e = min(self.lo + self.n, self.fleet.day0 + self.fleet.n_days)
        if s < e and len(rows):
            out[:, s - self.lo : e - self.lo] = a[rows, s - self.fleet.day0 : e - self.fleet.day0]
        return out


def prefix(rows: npt.NDArray[Any], dtype: npt.DTypeLike) -> Counts:
    """(days + 1, rows) prefix sums over the days of a (rows, days) array: one vector add per
    day (np.cumsum along axis 0 of the transposed array is several times slower)."""
    days = np.ascontiguousarray(rows.T)
    out = np.zeros((days.shape[0] + 1, days.shape[1]), dtype)
    for d in range(days.shape[0]):
        np.add(out[d], days[d], out=out[d + 1])
    return out


@dataclass(frozen=True, slots=True)
class Measures:
    """Per metric and transition (METRICS x transitions; NaN where not measured)."""

    pre: F64
    post: F64
    ctrl: F64  # control_change(u) of the transition's day; NaN without control
    has_ctrl: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls, metrics: int, transitions: int) -> Measures:
        shape = (metrics, transitions)
        return cls(np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan),
                   np.zeros(transitions, np.bool_))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sums:
    """One group's controls per day of change `u`: the eligible devices and, per metric, the
    integer sum of their changes (post - pre) before the one division, and the measurable
    transitions on that day. Sums over devices: a device's share of them is its own
    (releases_update adjusts them by the changed devices')."""

    u: Ints
    n_ctrl: Ints
    total: Ints  # (metrics, len(u)); 0 for a metric not measured
    n_trans: Ints


def measure_group(
    days: Days,
    code: int,
    core_codes: Ints,
    core_size: int,
    idx: Ints,
    device: Ints,
    day: Ints,
    w: int,
    out: Measures,
) -> Sums:
    """Fill `out` for the measurable transitions `idx` (their `device` and `day`) of one
    configuration `code` (type * firmwares + from). `core_codes`: the feature codes of its
    type's core set of `core_size` features (some may be unknown to the fleet). The group: the
    devices with a run of that configuration in the report's days (a control has one: its
    activity in pre is such an event) and the transitioning devices."""
    u = np.unique(day)  # days of change
    sums, own = group_sums(days, code, core_codes, core_size, device, day, u, w)
    put_values(out, idx, sums, own, np.searchsorted(u, day), core_size, w)
    return sums


def group_sums(
    days: Days,
    code: int,
    core_codes: Ints,
    core_size: int,
    device: Ints,
    day: Ints,
    u: Ints,
    w: int,
) -> tuple[Sums, Ints]:
    """measure_group's sums over the days of change `u` (which hold every `day`), and the
    (metrics, pre / post, transitions) integer windows of the transitions' own devices."""
    fleet, lo = days.fleet, days.lo
    cfg = fleet.run_type * max(len(fleet.firmwares), 1) + fleet.run_firmware
    near = (fleet.run_last_day >= lo) & (fleet.run_first_day <= lo + days.n - 1)
    group = np.union1d(fleet.run_device[near & (cfg == code)], device)
    col = np.searchsorted(u, day)  # each transition's day of change
    row = np.searchsorted(group, device)
    pre_a, pre_b, post_a, post_b = u - w - lo, u - lo, u + 1 - lo, u + w + 1 - lo

    def windows(cum: Counts) -> tuple[Counts, Counts]:
        return cum[pre_b] - cum[pre_a], cum[post_b] - cum[post_a]

    act_pre, act_post = windows(np.take(days.act, group, axis=1))
    eligible = _quiet(days, group, near & (cfg != code), u, w) & (act_pre > 0)
    eligible[col, row] = False  # the transitioning devices (their `to` event is on day u)
    total = np.zeros((3, len(u)), np.int64)
    own = np.zeros((3, 2, len(device)), np.int64)

    def put(m: int, pre: Counts, post: Counts) -> None:
        own[m, 0], own[m, 1] = pre[col, row], post[col, row]
        total[m] = np.where(eligible, post - pre, 0).sum(axis=1)

    put(ACTIVE, act_pre, act_post)
    put(USES, *windows(prefix(days.cut(fleet.uses, group), np.int64)))
    if core_size:  # else no breadth
        put(BREADTH, *_breadth(days, group, core_codes, u, w))
    n_trans = np.bincount(col, minlength=len(u)) if len(u) else np.zeros(0, np.int64)
    return Sums(u, eligible.sum(axis=1), total, n_trans), own


def put_values(
    out: Measures, idx: Ints, sums: Sums, own: Ints, col: Ints, core_size: int, w: int
) -> None:
    """The values of transitions `idx` (each on day of change u[col]): put_own, put_controls."""
    put_own(out, idx, own, core_size, w)
    put_controls(out, idx, sums, col, core_size, w)


def _scales(core_size: int, w: int) -> list[tuple[int, int]]:
    """(metric, its divisor) of the metrics measured: no core set, no breadth (left NaN)."""
    return [(m, s) for m, s in ((ACTIVE, w), (USES, w), (BREADTH, core_size)) if s]


def put_own(out: Measures, idx: Ints, own: Ints, core_size: int, w: int) -> None:
    """Pre and post of transitions `idx` from their own integer windows `own`."""
    for m, scale in _scales(core_size, w):
        out.pre[m, idx] = own[m, 0] / scale
        out.post[m, idx] = own[m, 1] / scale


def put_controls(out: Measures, idx: Ints, sums: Sums, col: Ints, core_size: int, w: int) -> None:
    """Control changes of transitions `idx`: a control mean is the integer sum divided once by
    the controls' number and by W (or the core set's size)."""
    found = sums.n_ctrl > 0
    out.has_ctrl[idx] = found[col]
    for m, scale in _scales(core_size, w):
        ctrl = np.full(len(sums.u), np.nan)
        ctrl[found] = sums.total[m, found] / sums.n_ctrl[found] / scale
        out.ctrl[m, idx] = ctrl[col]


def _quiet(
    days: Days, group: Ints, foreign: npt.NDArray[np.bool_], u: Ints, w: int
) -> npt.NDArray[np.bool_]:
    """(days of change, group): no run of another configuration covers a day of [u-w, u+w].
    A day inside a run holds only that run's events (runs are ordered between their ends), so
    this is "every event of the window in configuration"; only devices with such runs are
    looked at."""
    fleet, lo, n = days.fleet, days.lo, days.n
    out = np.ones((len(u), len(group)), np.bool_)
    foreign &= np.isin(fleet.run_device, group)
    if not foreign.any():
        return out
    dev, at = np.unique(np.searchsorted(group, fleet.run_device[foreign]), return_inverse=True)
    a = np.maximum(fleet.run_first_day[foreign], lo) - lo
    b = np.minimum(fleet.run_last_day[foreign], lo + n - 1) - lo + 1
    width = n + 1
    edges = np.bincount(at * width + a, minlength=len(dev) * width)
    edges -= np.bincount(at * width + b, minlength=len(dev) * width)
    covered = np.cumsum(edges.reshape(len(dev), width)[:, :n], axis=1) > 0
    bad = prefix(covered, np.int32)
    out[:, dev] = (bad[u + w + 1 - lo] - bad[u - w - lo]) == 0
    return out


def _breadth(days: Days, group: Ints, core_codes: Ints, u: Ints, w: int) -> tuple[Counts, Counts]:
    """(days of change, group) counts of core features used in pre and in post (a feature
    used under any device type counts). Each device-day becomes a bit mask of the core features
    used (a word of 8 to 64 bits); a window's mask is the OR of its days, taken from a sparse
    table (ORs over 2^k days, k = floor(log2 W): two overlapping ones cover any W days), and its
    count a popcount."""
    fleet, lo = days.fleet, days.lo
    nf = max(len(fleet.features), 1)
    rows = np.isin(fleet.use_feature, core_codes) & np.isin(fleet.use_device, group)
    keys = np.searchsorted(group, fleet.use_device[rows]) * nf + fleet.use_feature[rows]
    uniq, inv = np.unique(keys, return_inverse=True)  # one row per (device, feature)
    used = or_rows(inv.reshape(-1), days.used[rows], len(uniq))
    dev, bit = uniq // nf, np.searchsorted(core_codes, uniq % nf)
    k = w.bit_length() - 1
    counts = [np.zeros((len(u), len(group)), np.int64) for _ in range(2)]
    for first in range(0, len(core_codes), 64):
        width = min(64, len(core_codes) - first)  # the smallest word for the chunk's bits
        word = np.dtype(f"uint{max(8, 1 << (width - 1).bit_length())}").type
        mask = np.zeros((len(group), days.n), word)
        for j in np.unique(bit[(bit >= first) & (bit < first + 64)]).tolist():
            r = np.flatnonzero(bit == j)  # at most one row per device
            mask[dev[r]] |= used[r].astype(word) << word(j - first)
        table = np.ascontiguousarray(mask.T)  # (days, group)
        for i in range(k):  # table[a] = OR of the days [a, a + 2^(i+1) - 1]
            table = table[: -(1 << i)] | table[1 << i :]
        for out, a in zip(counts, (u - w - lo, u + 1 - lo), strict=True):
            out += np.bitwise_count(table[a] | table[a + w - (1 << k)])
    return counts[0], counts[1]
