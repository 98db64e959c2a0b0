"""Release impact (collector.analytics.releases) on a synthetic fleet, engine and request.

Suite `releases` (`python -m bench releases`, and in every `--smoke` run): builds fleets of
10,000 and 100,000 devices over 90 days (three device types, 30% upgraded 1.0 -> 2.0 on a random
day, 1% of those back to 1.0 later, activity and feature use drawn per device), directly as the
arrays a storage layer hands over (releases_fleet.Fleet), then times, warm (the median of 3 runs
after one untimed run), W = 14, a 60-day report, 1,000 resamples:
- the pure engine: `release_report` with nothing kept, against the previous engine
  (bench/releases_previous.py) on the same fleet in the same run; `report_rows` from a kept
  measurement; `rollout` (baseline: the smallest fleet, so the ratio is the growth);
- a request end to end from a SQLite store holding that fleet (bench/releases_store.py).
--quick: 1,000 and 10,000 devices, 200 resamples; --smoke: toy sizes.
`python -m bench.releases [--quick]` prints the same figures as a table.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial

import numpy as np
import numpy.typing as npt

import bench.releases_previous as previous
from bench.core import Figure, Size, render
from bench.releases_store import request_figures, same_rows
from collector.analytics.releases import (
    ReleaseParams,
    release_report,
    report_rows,
)
from collector.analytics.releases import measure as measure_engine
from collector.analytics.releases_fleet import Fleet
from collector.analytics.releases_rollout import rollout
from collector.analytics.state import CubeState, Snapshot
from collector.reports.fleets import build_fleet
from collector.storage import UsesRow
from collector.storage.bitmaps import Changes
from collector.storage.runs import Run
from collector.storage.usecache import UseColumns

DAY0 = date(2026, 1, 1)
DAYS = 90
TYPES = ("press-x", "press-y", "oven")
FEATURES = ("f0", "f1", "f2", "f3", "f4", "f5")


def synthetic_fleet(n: int, seed: int = 7) -> Fleet:
    rng = np.random.default_rng(seed)
    day0 = DAY0.toordinal()
    typ = rng.integers(0, len(TYPES), n)
    upgraded = rng.random(n) < 0.30
    up_day = rng.integers(10, DAYS - 5, n)
    back = upgraded & (rng.random(n) < 0.01)
    back_day = np.minimum(up_day + rng.integers(5, 30, n), DAYS - 1)
    # runs: 1.0 [0, up_day - 1], 2.0 [up_day, back_day - 1 or end], 1.0 [back_day, end]
    u, b = np.flatnonzero(upgraded), np.flatnonzero(back)
    r_dev = [np.arange(n), u, b]
    r_fw = [np.zeros(n, np.int64), np.ones(len(u), np.int64), np.zeros(len(b), np.int64)]
    r_a = [np.zeros(n, np.int64), up_day[u], back_day[b]]
    r_b = [
        np.where(upgraded, up_day - 1, DAYS - 1),
        np.where(back[u], back_day[u] - 1, DAYS - 1),
        np.full(len(b), DAYS - 1),
    ]
    dev, fw, a, z = (np.concatenate(x) for x in (r_dev, r_fw, r_a, r_b))
    order = np.lexsort((a, dev))
    dev, fw, a, z = dev[order], fw[order], a[order], z[order]
    # activity per device and day; the rows per (device, type, firmware) split it by run
    p_active = rng.uniform(0.2, 0.9, n)
    active = rng.random((n, DAYS)) < p_active[:, None]
    cols = np.arange(DAYS)
    act_rows = [
        active[d] & (cols >= lo) & (cols <= hi) for d, lo, hi in zip(dev, a, z, strict=True)
    ]
    # feature use: each device uses 1 to 6 features, each on a share of its active days
    p_feat = rng.random((n, len(FEATURES))) < rng.uniform(0.2, 1.0, (n, 1))
    f_dev, f_feat = np.nonzero(p_feat)
    use_days = active[f_dev] & (rng.random((len(f_dev), DAYS)) < 0.5)
    uses = np.zeros((n, DAYS), np.int64)
    np.add.at(uses, f_dev, use_days * rng.integers(1, 4, (len(f_dev), DAYS)))
    keep = np.asarray([row.any() for row in act_rows], np.bool_)
    return Fleet(
        day0=day0,
        n_days=DAYS,
        devices=tuple(f"dev-{i:06d}" for i in range(n)),
        types=TYPES,
        firmwares=("1.0", "2.0"),
        features=FEATURES,
        run_device=dev.astype(np.int64),
        run_type=typ[dev],
        run_firmware=fw,
        run_first_day=a + day0,
        run_last_day=z + day0,
        act_device=dev[keep].astype(np.int64),
        act_type=typ[dev][keep],
        act_firmware=fw[keep],
        act_days=np.asarray(act_rows, np.bool_).reshape(len(dev), DAYS)[keep],
        use_device=f_dev.astype(np.int64),
        use_type=typ[f_dev],
        use_feature=f_feat.astype(np.int64),
        use_days=use_days,
        uses=uses,
    )


def _words(days: npt.NDArray[np.bool_], day0: int) -> tuple[int, npt.NDArray[np.int64]]:
    """(first block, (rows, blocks) signed words) of day bits whose column 0 is ordinal day0."""
    pad = day0 % 64
    width = -(-(pad + days.shape[1]) // 64) * 64
    bits = np.zeros((days.shape[0], width), np.bool_)
    bits[:, pad : pad + days.shape[1]] = days
    packed = np.packbits(bits, axis=1, bitorder="little")
    return day0 // 64, packed.view("<u8").astype(np.uint64).view(np.int64)


def product_inputs(
    fleet: Fleet,
) -> tuple[Snapshot, dict[str, tuple[Run, ...]], list[UsesRow]]:
    """What reports/releases.py reads from a store for this fleet: the analytics snapshot (one
    combination per activity row; feature rows on the device's first combination), the runs
    per device and the feature_use counts per device and day."""
    state = CubeState()
    dev = fleet.devices
    rows = zip(fleet.act_device.tolist(), fleet.act_type.tolist(), fleet.act_firmware.tolist(),
               strict=True)  # fmt: skip
    combos = [(i, dev[d], "acct", fleet.types[t], fleet.firmwares[f], "{}")
              for i, (d, t, f) in enumerate(rows)]  # fmt: skip
    first_combo: dict[int, int] = {}
    for i, d in enumerate(fleet.act_device.tolist()):
        first_combo.setdefault(d, i)
    state.add_names(combos, list(enumerate(fleet.features)))
    block0, act = _words(fleet.act_days, fleet.day0)
    _, fw = _words(fleet.use_days, fleet.day0)
    activity = [(r, block0 + b, int(act[r, b])) for r, b in zip(*np.nonzero(act), strict=True)]
    f_combo = [first_combo.get(d, 0) for d in fleet.use_device.tolist()]
    feature_bits = [(f_combo[r], int(fleet.use_feature[r]), block0 + b, int(fw[r, b]))
                    for r, b in zip(*np.nonzero(fw), strict=True)]  # fmt: skip
    state.apply(Changes(activity, feature_bits, (1, 1)))
    runs: dict[str, list[Run]] = {}
    for d, t, f, a, z in zip(fleet.run_device.tolist(), fleet.run_type.tolist(),
                             fleet.run_firmware.tolist(), fleet.run_first_day.tolist(),
                             fleet.run_last_day.tolist(), strict=True):  # fmt: skip
        runs.setdefault(dev[d], []).append(
            Run(fleet.types[t], fleet.firmwares[f], (a * 86_400_000, "a"), a,
                (z * 86_400_000 + 1, "z"), z)
        )  # fmt: skip
    d_idx, col = np.nonzero(fleet.uses)
    uses = [(dev[d], fleet.day0 + c, int(fleet.uses[d, c]))
            for d, c in zip(d_idx.tolist(), col.tolist(), strict=True)]  # fmt: skip
    return state.snapshot, {d: tuple(rs) for d, rs in runs.items()}, uses


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


def _params(size: Size) -> ReleaseParams:
    start = DAY0 + timedelta(days=15)
    return ReleaseParams(
        start,
        start + timedelta(days=59),
        DAY0 + timedelta(days=DAYS - 2),
        14,
        core_features={"press-x": ["f0", "f1", "f2"]},  # the other types: the fallback
        resamples=size.pick(1000, 200, 50),
    )


def _sizes(size: Size) -> list[int]:
    return size.pick([10_000, 100_000], [1_000, 10_000], [200, 500])


def measure(size: Size) -> list[Figure]:
    """The pure engine: the report uncached (baseline: the previous engine, same fleet), the
    report from a kept measurement (what a warm request computes), the rollout (baseline: the
    smallest fleet, so the ratio is the growth)."""
    params = _params(size)
    runs = size.pick(3, 1, 1)
    figures: list[Figure] = []
    first: dict[str, float] = {}
    for n in _sizes(size):
        fleet = synthetic_fleet(n)
        rows = release_report(fleet, params)
        assert same_rows(rows, previous.release_report(fleet, params))
        measurable = sum(r["measurable"] for r in rows if r["metric"] == "breadth")
        note = f"{n:,} devices x {DAYS} days, {measurable:,} measurable"
        note += f", {params.resamples} resamples"
        label = _label(n)
        kept = measure_engine(fleet, params)
        before = _median_ms(partial(previous.release_report, fleet, params), runs)
        now = _median_ms(partial(release_report, fleet, params), runs)
        cached = _median_ms(partial(report_rows, fleet, params, kept), runs)
        roll = _median_ms(partial(rollout, fleet, params.start, params.end), runs)
        first.setdefault("rollout", roll)
        figures += [
            Figure(f"releases_report_{label}_ms", now, "ms", baseline=before,
                   note=f"warm, nothing kept; baseline: the previous engine; {note}"),
            Figure(f"releases_report_kept_{label}_ms", cached, "ms", baseline=now,
                   note=f"from a kept measurement (bootstrap and rows); {note}"),
            Figure(f"releases_rollout_{label}_ms", roll, "ms", baseline=first["rollout"],
                   note=f"warm; baseline: the smallest fleet; {note}"),
        ]  # fmt: skip
        if n <= size.pick(10_000, 10_000, 500):
            figures.append(_product_path(fleet, params, runs, f"{label}", note))
    return figures


def _product_path(fleet: Fleet, params: ReleaseParams, runs: int, label: str, note: str) -> Figure:
    """The product path after the store's reads (reports/releases.py): the Fleet from the
    snapshot, the runs and the uses; its report must equal the synthetic fleet's."""
    snapshot, runs_by_device, uses = product_inputs(fleet)
    lo, hi = params.start.toordinal() - 14, params.end.toordinal() + 14
    built = build_fleet(snapshot, runs_by_device, UseColumns.of(uses), lo, hi)
    assert same_rows(release_report(built, params), release_report(fleet, params), 0.0)
    ms = _median_ms(
        lambda: build_fleet(snapshot, runs_by_device, UseColumns.of(uses), lo, hi), runs
    )
    note = f"warm; {note}; {len(uses):,} device-days of uses"
    return Figure(f"releases_build_fleet_{label}_ms", ms, "ms", note=note)


async def run(size: Size) -> list[Figure]:
    """The suite: the engine is CPU-bound numpy, so it runs in a worker thread; then a request
    end to end from a SQLite store (bench/releases_store.py) at each size."""
    figures = await asyncio.to_thread(measure, size)
    for n in _sizes(size):
        fleet = await asyncio.to_thread(synthetic_fleet, n)
        figures += await request_figures(fleet, _params(size), _label(n))
    return figures


if __name__ == "__main__":
    print(render(asyncio.run(run(Size.QUICK if "--quick" in sys.argv[1:] else Size.FULL))))
