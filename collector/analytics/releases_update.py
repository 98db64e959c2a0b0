"""A kept measurement (`releases.Measured`) adjusted for the devices a write changed, instead of
measured again over every device.

Everything a measurement holds is a device's own or a sum over devices: a transition's status
and pre / post windows depend on its device alone, and a control mean is an integer sum over
the eligible devices of one (type, from) group and day of change, divided once
(releases_groups.Sums). So the measurement of a Fleet updated for devices A (reports/fleets.py)
is the kept one with A's old share taken out of every sum and A's new share put in, A's
transitions replaced, and the control means divided again: equal to measuring the updated
Fleet, array for array (tested: reports/test_releases_update.py). A's shares are measured on a
Fleet of A's devices only (`subfleet`), before and after the update.

It declines (None: measure again) where a sum over devices is not what changed: a fallback
core set (a type without a configured one: every feature its fleet used) that moved, a day of
change that A's transitions add to or take from a group, or a group they add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.analytics.releases import (
    DEFAULT_CORE_KEY,
    MEASURABLE,
    Measured,
    ReleaseParams,
    TransitionTable,
    core_of,
    core_sets,
    report_days,
    transition_table,
)
from collector.analytics.releases_fleet import Fleet, Ints
from collector.analytics.releases_groups import Measures, Sums, group_sums, put_controls, put_own


def subfleet(fleet: Fleet, devices: Ints) -> Fleet:
    """The rows of `devices` (codes, ascending) only, renumbered 0.. in that order; the other
    vocabularies as they are."""
    pos = np.full(len(fleet.devices), -1, np.int64)
    pos[devices] = np.arange(len(devices))
    r, a, u = (pos[d] >= 0 for d in (fleet.run_device, fleet.act_device, fleet.use_device))
    return Fleet(
        day0=fleet.day0, n_days=fleet.n_days,
        devices=tuple(fleet.devices[i] for i in devices.tolist()), types=fleet.types,
        firmwares=fleet.firmwares, features=fleet.features,
        run_device=pos[fleet.run_device[r]], run_type=fleet.run_type[r],
        run_firmware=fleet.run_firmware[r], run_first_day=fleet.run_first_day[r],
        run_last_day=fleet.run_last_day[r],
        act_device=pos[fleet.act_device[a]], act_type=fleet.act_type[a],
        act_firmware=fleet.act_firmware[a], act_days=fleet.act_days[a],
        use_device=pos[fleet.use_device[u]], use_type=fleet.use_type[u],
        use_feature=fleet.use_feature[u], use_days=fleet.use_days[u], uses=fleet.uses[devices],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Share:
    """Some devices' part of a measurement: their transitions (codes of their subfleet), per
    group their sums and which of their transitions it measures with their own windows."""

    table: TransitionTable
    sums: dict[tuple[int, int], Sums]  # per (type, from) as Measured.sums
    own: dict[tuple[int, int], tuple[Ints, Ints]]  # -> (rows of `table`, (metrics, 2, rows))


def share(sub: Fleet, m: Measured) -> Share | None:
    """The share of `sub`'s devices in a measurement shaped like `m` (its groups and days of
    change); None if their measurable transitions fall outside those."""
    params = m.params
    if params is None:
        return None
    days = report_days(sub, params)
    table = transition_table(sub, params, days.act, days.lo)
    n_fw = max(len(sub.firmwares), 1)
    cfg = table.device_type * n_fw + table.from_fw
    measurable = table.status == MEASURABLE
    if not {divmod(c, n_fw) for c in np.unique(cfg[measurable]).tolist()} <= m.sums.keys():
        return None
    sums, own = {}, {}
    for key, s in m.sums.items():
        code = key[0] * n_fw + key[1]
        idx = np.flatnonzero(measurable & (cfg == code))
        day = table.day[idx]
        if not np.isin(day, s.u).all():
            return None
        core_codes, core_size = core_of(sub, m.cores, code)
        sums[key], windows = group_sums(
            days, code, core_codes, core_size, table.device[idx], day, s.u, params.window
        )
        own[key] = (idx, windows)
    return Share(table, sums, own)


def cores_of(fleet: Fleet, params: ReleaseParams) -> dict[str, frozenset[str]] | None:
    """The core set of every device type of the fleet when each is configured, as
    releases.core_sets gives them without reading the fleet's days; else None."""
    out = {}
    for name in fleet.types:
        names = params.core_features.get(name, params.core_features.get(DEFAULT_CORE_KEY))
        if names is None:
            return None
        out[name] = frozenset(names)
    return out


def remeasure(m: Measured, old: Share, fleet: Fleet, now: Share, a0: Ints, a1: Ints,
              remap: Ints) -> Measured | None:  # fmt: skip
    """`m` (of the Fleet before the update) for `fleet`, the Fleet updated for the devices `a0`
    (their codes before; ascending) = `a1` (after), whose shares were `old` and are `now`
    (`share` of their subfleets); `remap`: old device codes -> new. None where it cannot."""
    params = m.params
    if params is None:
        return None
    cores = cores_of(fleet, params) or core_sets(fleet, params)
    if any(cores[t] != c for t, c in m.cores.items()):
        return None  # a fallback core set moved: every breadth share with it
    sums = {}
    for key, s in m.sums.items():
        o, n = old.sums[key], now.sums[key]
        n_trans = s.n_trans - o.n_trans + n.n_trans
        if not n_trans.all():
            return None  # a day of change gone: its column goes
        sums[key] = Sums(s.u, s.n_ctrl - o.n_ctrl + n.n_ctrl, s.total - o.total + n.total,
                          n_trans)  # fmt: skip
    t0, v0 = m.table, m.values
    keep = ~np.isin(t0.device, a0)
    t1 = now.table
    at = np.searchsorted(remap[t0.device[keep]], a1[t1.device])  # device order, as a build
    fresh = at + np.arange(len(at))  # rows of the new transitions in the result
    cols = ("device", "device_type", "from_fw", "to_fw", "day", "status")
    parts = {c: getattr(t1, c) for c in cols} | {"device": a1[t1.device]}
    kept = {c: getattr(t0, c)[keep] for c in cols} | {"device": remap[t0.device[keep]]}
    table = TransitionTable(**{c: np.insert(kept[c], at, parts[c]) for c in cols})
    nan = np.full((v0.pre.shape[0], len(at)), np.nan)
    values = Measures(
        np.insert(v0.pre[:, keep], at, nan, axis=1), np.insert(v0.post[:, keep], at, nan, axis=1),
        np.insert(v0.ctrl[:, keep], at, nan, axis=1),
        np.insert(v0.has_ctrl[keep], at, np.zeros(len(at), np.bool_)),
    )  # fmt: skip
    n_fw = max(len(fleet.firmwares), 1)
    cfg = table.device_type * n_fw + table.from_fw
    measurable = table.status == MEASURABLE
    for key, s in sums.items():
        code = key[0] * n_fw + key[1]
        _, core_size = core_of(fleet, cores, code)
        idx, windows = now.own[key]
        put_own(values, fresh[idx], windows, core_size, params.window)
        every = np.flatnonzero(measurable & (cfg == code))
        col = np.searchsorted(s.u, table.day[every])
        put_controls(values, every, s, col, core_size, params.window)
    return Measured(table, values, params, cores, sums)
