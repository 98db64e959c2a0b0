"""Growth: how ingest rate and query time change with the fleet (10,000 -> 100,000 -> 1,000,000
devices), so that a reader sees the cost curve rather than one point.

For each fleet size, on SQLite: the query suite's synthetic fleet (bench/query.py) with a
shorter history, 14 days (90 days of 1,000,000 devices would be ~110 million events: hours to
generate here), then the query suite's PES / compare / trend timings (medians, warm), then the
ingest suite's end-to-end run (bench/ingest.py: load generator process -> Mosquitto -> the
collector's ingest loop) into that same store, which now holds the fleet's history. The baseline
of each figure is the same figure at the smallest fleet of the run, so the ratio is the growth.

Per size, next to them: the exact bootstrap (one draw per entity, what compare did before it
resampled buckets) on the same cube, as the same-run baseline of the compare figure
(`growth_compare_exact_*`), and the memory the analytics state added to the process (RSS
before and after the first query, `growth_state_mb_*`).

Also per size (issue 18):
- `growth_releases_*`: the first `/v1/releases` request (reports.releases.release_rows) after the
  PES timings, i.e. with the analytics state warm: runs, feature_use counts, the Fleet, the
  engine; `growth_releases_warm_*` the same request again (median of 3). The fleet's firmware
  upgrades (20% of devices move to 2.1 on a random day) are written as firmware runs, one per
  (device, firmware), as ingest would have kept them; the report covers the history's last
  `RELEASE_DAYS` days (bench/growth_fleet.py) with a 5-day window. `growth_releases_warmup_*`:
  in a fresh state (the kept file), the release part of `serve`'s warm-up (the default 90-day
  report for today = the history's last day); `growth_releases_after_warmup_*`: the same first
  request after it; `growth_releases_after_write_*`: that request again after each of 3 writes
  of late uses (median), which updates the kept Fleet and its measurement for the devices
  written (the case of a collector that ingests; reports/fleets.py, analytics/releases_update.py).
- `growth_releases_restart_*`: the first `/v1/releases` of a fresh process after a restart with
  the release file (reports/release_keep.py): a process (bench/release_restart.py `prep`) runs
  `serve`'s warm-up, which measures the default report and writes the file, and stops; a new
  process loads the analytics state from its file and times the default report (`default`),
  which the file keeps measured (checked: its rows' hash is the one the build gave). Its
  baseline is `growth_releases_*`, the first request without the file (there the last 10 days,
  here 90; `growth_releases_warmup_*` is the default report built in a fresh state).
  `growth_release_file_mb_*`: the file's size.
- `growth_warmstart_*`: the first PES request of a fresh state that reads the kept analytics state
  (collector/reports/warmstart.py) and then the rows changed since; its same-run baseline is the
  first request of a fresh state without the file on the same store (`growth_cold_fresh_*`),
  the run just before it. `growth_snapshot_mb_*` is the file's size.

`growth_ingest_cpu_*`: the same ingest run's events per CPU-second of the collector's process
(bench/ingest.py `_measure`): what the store's size costs the collector, apart from the load of
the machine, which the end-to-end rate of a ~2 s run (`growth_ingest_*`) follows closely.

Also per size: `growth_trend_dense_*`, the warm 12-week trend over a snapshot whose history is
as long as the trend (bench/trend_dense.py: the 14 days copied back), with the previous path on
the same snapshot as baseline (`growth_trend_dense_previous_*`): with 14 days of history most of
the trend's weeks are empty and cost next to nothing.

Sizes: 10,000 and 100,000 devices (--quick: 1,000 and 10,000). Larger points run only when
PES_BENCH_GROWTH_MAX allows them: 300000 adds 300,000 devices (~8 minutes here), 1000000 adds
300,000 and 1,000,000 (about half an hour)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import release_restart
from bench.core import Figure, Size
from bench.growth_fleet import DAYS, RUNS, release_query
from bench.ingest import _measure
from bench.pes_warm import FRESH, LATE, _late_uses, warm_figures
from bench.query import END, SETTINGS, _fill_sqlite, _median_ms, _say, timings
from bench.trend_dense import dense_trend_figures
from collector.analytics.compare import compare, parse_config
from collector.analytics.cube import needed_range
from collector.reports import make_query, release_keep, warmstart
from collector.reports.releases import release_rows, warm_up_releases
from collector.reports.tables import current_snapshot, load_cube, pes_rows, warm_up_pes
from collector.settings import StorageSettings
from collector.storage import Store, open_store
from devkit.broker import LocalBroker


def _sizes(size: Size) -> list[int]:
    top = int(os.environ.get("PES_BENCH_GROWTH_MAX", "0") or 0)
    sizes = size.pick([10_000, 100_000], [1_000, 10_000], [100, 300])
    sizes += [n for n in (300_000, 1_000_000) if n <= top and size is Size.FULL]
    return sizes


def _db_mb_and_remove(tmp: Path, devices: int) -> float:
    files = list(tmp.glob(f"g{devices}.db*"))
    size = sum(p.stat().st_size for p in files)
    for p in files:
        p.unlink()
    return size / 1e6


def _snapshot_mb_and_remove(tmp: Path, devices: int) -> float:
    path = tmp / f"g{devices}.db.analytics.npz"
    size = path.stat().st_size
    path.unlink()
    return size / 1e6


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _compare_exact_ms(store: Store) -> float:
    """The query suite's compare with the exact per-entity bootstrap (buckets=None)."""
    q = make_query(SETTINGS, start=END - timedelta(days=29), end=END, group_by="",
                   filters={"device_type": "press-x"})  # fmt: skip
    params = q.params(SETTINGS)
    cube = await load_cube(store, *needed_range(params), q)
    configs = [parse_config("a", "firmware_version:2.0"), parse_config("b", "firmware_version:2.1")]

    async def exact() -> object:
        return compare(cube, configs, params, "device", baseline="a", resamples=1000, seed=1,
                       buckets=None)  # fmt: skip

    return await _median_ms(exact, 3)


async def _releases_ms(store: Store) -> tuple[float, float]:
    """(first, warm median of 3) ms of the release report over the history's last days."""
    q = release_query()
    t0 = time.perf_counter()
    rows = await release_rows(store, SETTINGS, q)
    first = (time.perf_counter() - t0) * 1000
    if not any(r["measurable"] for r in rows):
        raise RuntimeError("the growth fleet's release report measured no device")
    return first, await _median_ms(lambda: release_rows(store, SETTINGS, q), 3)


async def _after_warm_up_ms(url: str) -> tuple[float, float, float]:
    """In a fresh state reading the kept file, as `serve` starts: (the warm-up's release part,
    i.e. the default 90-day report's Fleet and measurement, ms; then the first release request
    of the growth query, ms; then the same request after each of 3 writes of LATE late uses,
    median ms), the warm-up run for `today` = END, the history's last day."""
    async with open_store(url) as store:
        warmstart.keep_warm(store, StorageSettings(url=url))
        await warm_up_pes(store, SETTINGS)
        t0 = time.perf_counter()
        await warm_up_releases(store, SETTINGS, today=END)
        warm_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        rows = await release_rows(store, SETTINGS, release_query())
        first = (time.perf_counter() - t0) * 1000
        if not any(r["measurable"] for r in rows):
            raise RuntimeError("the growth fleet's release report measured no device")
        after = []
        for k in range(3):
            await store.write([await _late_uses(store, 100 + k)], 0)
            t0 = time.perf_counter()
            await release_rows(store, SETTINGS, release_query())
            after.append((time.perf_counter() - t0) * 1000)
    return warm_ms, first, statistics.median(after)


async def _restart_ms(db: Path) -> tuple[float, float]:
    """(the first request of a restarted process, the default report, ms; the release file, MB),
    each step a process of its own (bench/release_restart.py); the file is removed after."""
    t0 = time.perf_counter()
    prep = await release_restart.step("prep", db)  # writes the file at its end
    got = await release_restart.step("default", db)
    if got["refused"]:
        raise RuntimeError(f"the restart refused the release file: {got}")
    if got["sha256"] != prep["default_sha256"]:
        raise RuntimeError(f"the restart's default report differs from the build's: {got}")
    path = release_keep.release_path(StorageSettings(url=f"sqlite:///{db}"))
    assert path is not None  # SQLite keeps it next to the store by default
    size = path.stat().st_size
    path.unlink()
    _say(f"the restart's two processes took {time.perf_counter() - t0:.1f} s")
    return float(str(got["first_ms"])), size / 1e6


async def _first_pes_ms(url: str) -> float:
    """The first PES request of a fresh state on this store, which keeps its state in the
    default file next to the store (written after the full load, or read if present)."""
    q = make_query(SETTINGS, start=END - timedelta(days=29), end=END, group_by=None)
    async with open_store(url) as store:
        warmstart.keep_warm(store, StorageSettings(url=url))
        t0 = time.perf_counter()
        await pes_rows(store, SETTINGS, q)
        ms = (time.perf_counter() - t0) * 1000
        await warmstart.flush(store)
    return ms


async def _point(
    devices: int, port: int, tmp: Path, shape: tuple[int, int, int]
) -> dict[str, float]:
    url = f"sqlite:///{tmp / f'g{devices}.db'}"
    async with open_store(url) as store:
        t0 = time.perf_counter()
        n = await _fill_sqlite(store, devices, DAYS)
        await store.db.execute(RUNS)  # type: ignore[attr-defined]  # SqliteStore's connection
        await store.db.commit()  # type: ignore[attr-defined]  # as bench.query's fill does
        fill_s = time.perf_counter() - t0
        before = _rss_mb()
        cold, pes, compare_ms, trend = await timings(store)
        state_mb = _rss_mb() - before
        warm = await warm_figures(store)
        warm |= dense_trend_figures(await current_snapshot(store))
        exact = await _compare_exact_ms(store)
        releases, releases_warm = await _releases_ms(store)
        cold_fresh = await _first_pes_ms(url)  # no file yet: the full load, then the file
        warm_start = await _first_pes_ms(url)  # reads it
        releases_warmup, releases_after, after_write = await _after_warm_up_ms(url)  # reads it
        restart, release_mb = await _restart_ms(tmp / f"g{devices}.db")
        snap_mb = _snapshot_mb_and_remove(tmp, devices)
        eps, cpu_eps = await _measure(store, port, shape)
    size_mb = _db_mb_and_remove(tmp, devices)
    _say(
        f"{devices:,} devices: {n:,} events in {fill_s:.0f} s, {size_mb:,.0f} MB; "
        f"pes {pes:.0f} ms, compare {compare_ms:.0f} ms (exact {exact:.0f} ms), "
        f"trend {trend:.0f} ms, cold {cold:.0f} ms (+{state_mb:.0f} MB); ingest {eps:,.0f}/s "
        f"({cpu_eps:,.0f} per collector CPU-s); "
        f"previous path: pes {warm['pes_previous']:.0f} ms, trend {warm['trend_previous']:.0f} "
        f"ms; trend over 12 weeks of history {warm['trend_dense']:.0f} ms (previous "
        f"{warm['trend_dense_previous']:.0f} ms); pes after {LATE} late uses "
        f"{warm['pes_after_write']:.0f} ms; after {FRESH} new "
        f"devices {warm['pes_after_new_devices']:.0f} ms (previous "
        f"{warm['pes_after_new_devices_previous']:.0f} ms), after {FRESH} upgrades "
        f"{warm['pes_after_upgrade']:.0f} ms (previous {warm['pes_after_upgrade_previous']:.0f} "
        f"ms); releases {releases:.0f} ms (warm {releases_warm:.0f}; after serve's warm-up "
        f"{releases_after:.0f} ms, its release part {releases_warmup:.0f} ms, after {LATE} late "
        f"uses {after_write:.0f} ms); first query of a fresh state {cold_fresh:.0f} ms, "
        f"kept state {warm_start:.0f} ms ({snap_mb:.0f} MB); first release request of a restart "
        f"with the release file {restart:.0f} ms ({release_mb:.0f} MB)"
    )
    return {"events": n, "pes": pes, "compare": compare_ms, "compare_exact": exact,
            "trend": trend, "cold": cold, "state_mb": state_mb, "ingest": eps,
            "ingest_cpu": cpu_eps,
            "db_mb": size_mb, **warm, "releases": releases, "releases_warm": releases_warm,
            "releases_warmup": releases_warmup, "releases_after_warmup": releases_after,
            "releases_after_write": after_write,
            "cold_fresh": cold_fresh, "warmstart": warm_start,
            "snapshot_mb": snap_mb, "releases_restart": restart,
            "release_file_mb": release_mb}  # fmt: skip


# figure -> (same-size figure that is its baseline, what that is)
_BASELINES = {
    "compare": ("compare_exact", "exact bootstrap"),
    "pes": ("pes_previous", "previous path (per-member arrays), same snapshot"),
    "trend": ("trend_previous", "previous path (per-member arrays), same snapshot"),
    "trend_dense": (
        "trend_dense_previous",
        "previous path, same snapshot; the history copied back to cover the 12 weeks",
    ),
    "pes_after_write": ("pes", f"warm pes; {LATE} late uses stored before each"),
    "pes_after_new_devices": (
        "pes_after_new_devices_previous",
        f"previous path after the same write ({FRESH} new devices), same snapshot and refresh",
    ),
    "pes_after_upgrade": (
        "pes_after_upgrade_previous",
        f"previous path after the same write ({FRESH} devices upgraded to a new firmware), "
        "same snapshot and refresh",
    ),
    "warmstart": ("cold_fresh", "a fresh state without the file, same store"),
    "releases_after_warmup": (
        "releases",
        "the first release request of a process without the release warm-up",
    ),
    "releases_after_write": (
        "releases",
        f"the first release request of a process; here {LATE} late uses before each",
    ),
    "releases_warmup": (
        "releases",
        "the first release request without the warm-up (there 20 days, here 90)",
    ),
    "releases_restart": (
        "releases",
        "the first release request without the release file (there 10 days, here the default "
        "90, which the file keeps measured)",
    ),
}


async def run(size: Size) -> list[Figure]:
    shape = size.pick((100, 4, 500), (50, 2, 500), (5, 1, 100))
    points: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pes-bench-growth-") as tmp:
        async with LocalBroker() as broker:
            for devices in _sizes(size):
                points[devices] = await _point(devices, broker.port, Path(tmp), shape)
    first = points[min(points)]
    units = {"pes": "ms", "compare": "ms", "compare_exact": "ms", "trend": "ms", "cold": "ms",
             "state_mb": "MB", "ingest": "events/s",
             "ingest_cpu": "events/CPU-s", "db_mb": "MB", "events": "events",
             "pes_previous": "ms", "trend_previous": "ms", "trend_dense": "ms",
             "trend_dense_previous": "ms", "pes_after_write": "ms",
             "pes_after_new_devices": "ms", "pes_after_new_devices_previous": "ms",
             "pes_after_upgrade": "ms", "pes_after_upgrade_previous": "ms",
             "releases": "ms", "releases_warm": "ms", "releases_warmup": "ms",
             "releases_after_warmup": "ms", "releases_after_write": "ms", "cold_fresh": "ms",
             "warmstart": "ms",
             "snapshot_mb": "MB", "releases_restart": "ms", "release_file_mb": "MB"}  # fmt: skip
    figures = []
    for devices, p in points.items():
        tag = (f"{devices}" if devices < 1000 else f"{devices // 1000}k" if devices < 1_000_000
               else f"{devices // 1_000_000}m")  # fmt: skip
        note = f"{devices:,} devices x {DAYS} days, SQLite"
        for key, unit in units.items():
            # compare's baseline is the exact bootstrap of the same run and size, pes and trend
            # the previous path's, pes after a write the warm pes, the warm start a fresh state's
            # first query; the others' the same figure at the smallest size (the growth).
            base_key, what = _BASELINES.get(key, (key, "the smallest fleet"))
            baseline = (p if base_key != key else first)[base_key]
            what = f"{note}; baseline: {what}"
            figures.append(Figure(f"growth_{key}_{tag}", p[key], unit, baseline=baseline,
                                  note=what))  # fmt: skip
    return figures
