"""Release impact end to end: a request from a SQLite store to the answer (reports/releases.py).

bench.releases' synthetic fleet written into a fresh SQLite store as the rollups ingest keeps
(activity_day and feature_day rows, whose triggers fill the analytics bitmaps; firmware_runs;
the device registry with its event counters), then `release_rows`, what `GET /v1/releases` and
`pes-collector releases` run:
- releases_request_first: the first request of a process (reads the bitmaps, the runs and every
  feature_use count of the report's days);
- releases_request_warm: the same request again, nothing stored meanwhile (median of 3): the kept
  Fleet and measurement, then the bootstrap;
- releases_request_after_ingest: each time after `Store.write` stored 50 late feature_use
  events of 50 devices inside their runs (a count change, the case the caches must not miss;
  the answer is checked to move): the counters, those devices' counts read again, the Fleet and
  the measurement rebuilt (median of 3);
- baseline, same run: the previous request path on the same store (every count read, the Fleet
  built, the previous engine of bench/releases_previous.py), warm like the others.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

import bench.releases_previous as previous
from bench.core import Figure
from collector.analytics.releases import ReleaseParams, ReleaseRow
from collector.analytics.releases_fleet import Fleet
from collector.records import EventRow, ParsedMessage
from collector.reports.fleets import build_fleet
from collector.reports.releases import ReleaseQuery, release_rows
from collector.reports.tables import current_snapshot
from collector.settings import PesSettings
from collector.storage import open_store
from collector.storage.runcache import current_run_columns
from collector.storage.usecache import UseColumns

DAY_MS = 86_400_000


def same_rows(a: list[ReleaseRow], b: list[ReleaseRow], tol: float = 1e-9) -> bool:
    """Equal rows, floats (and intervals) within `tol`."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for k, v in x.items():
            w = y[k]  # type: ignore[literal-required]  # the keys of one TypedDict
            if isinstance(v, float) and isinstance(w, float):
                if abs(v - w) > tol:
                    return False
            elif isinstance(v, list) and isinstance(w, list):
                if any(abs(p - q) > tol for p, q in zip(v, w, strict=True)):
                    return False
            elif v != w:
                return False
    return True


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def store_rows(fleet: Fleet) -> dict[str, list[tuple[Any, ...]]]:
    """The rows ingest would have left for this fleet: rollups, runs and registry."""
    names, types, fws, feats = fleet.devices, fleet.types, fleet.firmwares, fleet.features
    days = [_iso(fleet.day0 + c) for c in range(fleet.n_days)]
    fw_of = np.zeros((len(names), fleet.n_days), np.int64)  # each device-day's firmware
    for d, f, a, z in zip(fleet.run_device.tolist(), fleet.run_firmware.tolist(),
                          fleet.run_first_day.tolist(), fleet.run_last_day.tolist(),
                          strict=True):  # fmt: skip
        fw_of[d, a - fleet.day0 : z - fleet.day0 + 1] = f
    r, c = np.nonzero(fleet.act_days)
    activity = [
        (names[d], "acct", types[t], fws[f], "{}", days[k], 1)
        for d, t, f, k in zip(fleet.act_device[r].tolist(), fleet.act_type[r].tolist(),
                              fleet.act_firmware[r].tolist(), c.tolist(), strict=True)
    ]  # fmt: skip
    r, c = np.nonzero(fleet.use_days)
    dev = fleet.use_device[r]
    counts = np.ones(len(r), np.int64)  # a device-day's total on its first feature row
    _, first = np.unique(dev * fleet.n_days + c, return_index=True)
    per_day = np.bincount(dev * fleet.n_days + c, minlength=len(names) * fleet.n_days)
    counts[first] += (fleet.uses.reshape(-1) - per_day)[dev[first] * fleet.n_days + c[first]]
    features = [
        (names[d], "acct", types[t], fws[fw_of[d, k]], "{}", days[k], feats[f], n)
        for d, t, f, k, n in zip(dev.tolist(), fleet.use_type[r].tolist(),
                                 fleet.use_feature[r].tolist(), c.tolist(), counts.tolist(),
                                 strict=True)
    ]  # fmt: skip
    runs = [
        (names[d], types[t], fws[f], a * DAY_MS, "a", a, z * DAY_MS + 1, "z", z, 1)
        for d, t, f, a, z in zip(fleet.run_device.tolist(), fleet.run_type.tolist(),
                                 fleet.run_firmware.tolist(), fleet.run_first_day.tolist(),
                                 fleet.run_last_day.tolist(), strict=True)
    ]  # fmt: skip
    events = np.bincount(fleet.act_device, fleet.act_days.sum(axis=1), len(names))
    last_fw = fleet.run_firmware[
        np.searchsorted(fleet.run_device, np.arange(len(names)), "right") - 1
    ]
    device_type = fleet.run_type[np.searchsorted(fleet.run_device, np.arange(len(names)))]
    registry = [
        (names[d], "acct", types[t], fws[f], 0, 0, int(e) + int(u))
        for d, (t, f, e, u) in enumerate(zip(device_type.tolist(), last_fw.tolist(),
                                             events.tolist(), fleet.uses.sum(axis=1).tolist(),
                                             strict=True))
    ]  # fmt: skip
    return {"activity": activity, "features": features, "runs": runs, "registry": registry}


# The analytics bitmaps of rollup rows inserted in bulk: migration 2's backfill statements.
_BITMAPS = [
    "INSERT INTO analytics_combo (device_id, account_id, device_type, firmware_version, labels) "
    "SELECT DISTINCT device_id, account_id, device_type, firmware_version, labels "
    "FROM activity_day",
    "INSERT INTO analytics_feature (feature) SELECT DISTINCT feature FROM feature_day",
    "INSERT INTO activity_bits SELECT c.id, o / 64, sum(1 << (o % 64)), 1 FROM (SELECT *, "
    "CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM activity_day) a JOIN analytics_combo c "
    "USING (device_id, account_id, device_type, firmware_version, labels) GROUP BY c.id, o / 64",
    "INSERT INTO feature_bits SELECT c.id, f.id, o / 64, sum(1 << (o % 64)), 1 FROM (SELECT *, "
    "CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM feature_day) a JOIN analytics_combo c "
    "USING (device_id, account_id, device_type, firmware_version, labels) "
    "JOIN analytics_feature f ON f.feature = a.feature GROUP BY c.id, f.id, o / 64",
]


async def _fill(store: Any, fleet: Fleet) -> int:
    """The rows in bulk with the bitmap triggers off (one trigger run per row would take ~15
    minutes at 100,000 devices here), then the bitmaps from them, then the triggers back."""
    rows = store_rows(fleet)
    db = store.db
    async with db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'") as cur:
        triggers = list(await cur.fetchall())
    for name, _ in triggers:
        await db.execute(f"DROP TRIGGER {name}")
    await db.executemany("INSERT INTO activity_day VALUES (?, ?, ?, ?, ?, ?, ?)", rows["activity"])
    await db.executemany(
        "INSERT INTO feature_day VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows["features"]
    )
    await db.executemany(
        "INSERT INTO firmware_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["runs"]
    )
    await db.executemany(
        "INSERT INTO devices (device_id, account_id, device_type, firmware_version, "
        "first_seen_ms, last_seen_ms, events) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows["registry"],
    )
    for sql in _BITMAPS:
        await db.execute(sql)
    for _, sql in triggers:
        await db.execute(sql)
    await db.commit()
    return len(rows["features"])


def _late_uses(fleet: Fleet, round_: int, n: int = 50) -> ParsedMessage:
    """One late feature_use for each of `n` devices, inside its first run (no run changes)."""
    out = []
    for d in range(round_ * n, (round_ + 1) * n):
        i = int(np.searchsorted(fleet.run_device, d))
        a, z = int(fleet.run_first_day[i]), int(fleet.run_last_day[i])
        day = (a + z) // 2
        ts = day * DAY_MS + 1000
        out.append(EventRow(
            fleet.devices[d], f"late-{round_}-{d}", None, None, "feature_use",
            fleet.features[0], None, None, ts, ts, "ntp", _iso(day),
            fleet.types[int(fleet.run_type[i])], fleet.firmwares[int(fleet.run_firmware[i])],
            "acct", "{}", "{}",
        ))  # fmt: skip
    return ParsedMessage(events=out)


async def _timed(
    fn: Callable[[], Awaitable[list[ReleaseRow]]],
) -> tuple[float, list[ReleaseRow]]:
    t0 = time.perf_counter()
    out = await fn()
    return (time.perf_counter() - t0) * 1000, out


async def request_figures(fleet: Fleet, params: ReleaseParams, label: str) -> list[Figure]:
    settings = PesSettings(core_features={k: list(v) for k, v in params.core_features.items()})
    q = ReleaseQuery(params.start, params.end, params.as_of, params.window)
    lo, hi = params.start.toordinal() - params.window, params.end.toordinal() + params.window
    note = f"{len(fleet.devices):,} devices x {fleet.n_days} days, SQLite"
    with tempfile.TemporaryDirectory(prefix="pes-bench-releases-") as tmp:
        async with open_store(f"sqlite:///{Path(tmp) / 'r.db'}") as store:
            t0 = time.perf_counter()
            n_rows = await _fill(store, fleet)
            fill_s = time.perf_counter() - t0
            first_ms, first = await _timed(lambda: release_rows(store, settings, q))
            warm = [await _timed(lambda: release_rows(store, settings, q)) for _ in range(3)]
            assert all(w[1] == first for w in warm)

            async def previous_path() -> list[ReleaseRow]:
                snapshot = await current_snapshot(store)
                runs = await current_run_columns(store)
                uses = await store.feature_uses(None, date.fromordinal(lo), date.fromordinal(hi))
                built = build_fleet(snapshot, runs, UseColumns.of(uses), lo, hi)
                return previous.release_report(built, q.params(settings))

            await previous_path()
            before = [await _timed(previous_path) for _ in range(3)]
            assert all(same_rows(b[1], first) for b in before), "the previous path answers the same"
            after = []
            for k in range(3):
                await store.write([_late_uses(fleet, k)], 0)
                ms, rows = await _timed(lambda: release_rows(store, settings, q))
                assert rows != first, "the answer follows the late uses"
                after.append(ms)
    base = statistics.median(b[0] for b in before)
    note += f", {n_rows:,} feature_day rows (filled in {fill_s:.0f} s)"
    return [
        Figure(f"releases_request_first_{label}_ms", first_ms, "ms", note=f"cold; {note}"),
        Figure(f"releases_request_warm_{label}_ms", statistics.median(w[0] for w in warm), "ms",
               "< 1000", base, f"baseline: the previous path, warm; {note}"),
        Figure(f"releases_request_after_ingest_{label}_ms", statistics.median(after), "ms",
               baseline=base, note=f"50 late uses stored before each; {note}"),
    ]  # fmt: skip
