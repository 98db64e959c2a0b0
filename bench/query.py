"""Analytics query latency on a large fleet, SQLite and PostgreSQL, next to the naive approach.

A synthetic fleet (100,000 devices x 90 days; --quick, and PostgreSQL unless
PES_BENCH_PG_DEVICES says otherwise: 10,000) is generated with numpy straight
into the `events` table, then the rollups are built from it with one INSERT ... SELECT per table
(the bitmap tables follow through their triggers), so rollups and raw events agree exactly.
Figures (median of several runs, warm caches):
- query_pes_cold_ms: the first query of a process, which reads the analytics tables into
  memory (later ones read only the rows changed since; no target);
- query_pes_ms: GET /v1/pes's work for the last 30 days, group_by device_type,firmware_version;
- query_compare_ms: firmware 2.1 vs 2.0 on one device type, 1,000 bootstrap resamples;
- query_trend_ms: 12 weekly periods, same group_by;
- query_vs_naive: the naive approach (no rollups: DISTINCT activity days and feature uses from
  raw events in SQL, then collector.pes.compute_pes) divided by query_pes_ms, same run.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import Figure, Size
from collector.analytics.compare import parse_config
from collector.reports import make_query, pes_rows
from collector.reports.tables import compare_rows, forget_answers, trend_rows
from collector.settings import PesSettings
from collector.storage import open_store
from tests.oracles.pes_reference import ActivityRow, FeatureRow, Segmenter, compute_pes

# the required figures (bench.core.REQUIRED) this suite always reports
PRODUCES = ("query_pes_ms", "query_compare_ms", "query_trend_ms", "query_vs_naive")
DAYS = 90
END = date(2026, 3, 31)
TYPES = {
    "press-x": ["calibrate", "export", "recipes", "clean"],
    "lathe-9": ["jog", "spindle", "probe"],
    "mixer-2": ["blend", "dose", "wash"],
}
FIRMWARE = ["2.0", "2.1"]
SITES = ["north", "south", "east", "west", "hq"]
SETTINGS = PesSettings(core_features={t: f[:3] for t, f in TYPES.items()})
_ACTIVITY = "('session_start', 'session_end', 'feature_use')"


def _say(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr, flush=True)


def fleet_events(devices: int, seed: int = 7, days: int = DAYS) -> Iterator[list[tuple[Any, ...]]]:
    """Event rows (device, event id, kind, feature, day, type, fw, account, labels), in chunks
    of devices. Engagement varies per device; 10% churn, 10% start late, 20% upgrade firmware."""
    rng = np.random.default_rng(seed)
    first_day = END - timedelta(days=days - 1)
    day_iso = [(first_day + timedelta(days=k)).isoformat() for k in range(days)]
    type_names = list(TYPES)
    chunk = 2000
    for lo in range(0, devices, chunk):
        n = min(chunk, devices - lo)
        p = rng.beta(2, 2.5, n)
        start = np.where(rng.random(n) < 0.1, rng.integers(0, days, n), 0)
        stop = np.where(rng.random(n) < 0.1, rng.integers(0, days, n), days)
        upgrade = np.where(rng.random(n) < 0.2, rng.integers(0, days, n), days)
        kinds = rng.integers(0, len(type_names), n)
        fw0 = rng.integers(0, 2, n)
        active = rng.random((n, days)) < p[:, None]
        span = np.arange(days)[None, :]
        active &= (span >= start[:, None]) & (span < stop[:, None])
        rows: list[tuple[Any, ...]] = []
        for i, d in zip(*np.nonzero(active), strict=True):
            dev = lo + int(i)
            t = type_names[kinds[i]]
            fw = FIRMWARE[1] if d >= upgrade[i] else FIRMWARE[fw0[i]]
            base = (day_iso[d], t, fw, f"acct{dev // 20}", f'{{"site":"{SITES[dev % 5]}"}}')
            name = f"dev{dev:06d}"
            rows.append((name, f"{d}s", "session_start", None, *base))
            for k, feat in enumerate(TYPES[t]):
                if rng.random() < 0.35:
                    rows.append((name, f"{d}f{k}", "feature_use", feat, *base))
            rows.append((name, f"{d}e", "session_end", None, *base))
        yield rows


_ROLLUPS = [
    "INSERT INTO activity_day SELECT device_id, account_id, device_type, firmware_version, "
    "labels, day, count(*) FROM events GROUP BY 1, 2, 3, 4, 5, 6",
    "INSERT INTO feature_day SELECT device_id, account_id, device_type, firmware_version, "
    "labels, day, feature, count(*) FROM events WHERE kind = 'feature_use' "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7",
    "INSERT INTO session_day SELECT device_id, account_id, device_type, firmware_version, "
    "labels, day, count(*), 600.0 FROM events WHERE kind = 'session_end' "
    "GROUP BY 1, 2, 3, 4, 5, 6",
]


async def _fill_sqlite(store: Any, devices: int, days: int = DAYS) -> int:
    db = store.db
    n = 0
    for rows in fleet_events(devices, days=days):
        await db.executemany(
            "INSERT INTO events (device_id, event_id, kind, feature, day, device_type, "
            "firmware_version, account_id, labels, ts_ms, wall_ms, clock_method, props, "
            "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 'wall', '{}', 0)",
            rows,
        )
        n += len(rows)
    for sql in _ROLLUPS:
        await db.execute(sql)
    await db.commit()
    return n


async def _fill_pg(store: Any, devices: int) -> int:
    import asyncpg

    n = 0
    # Its own connection: the store's pool stops any statement after 60 s, and building the
    # rollups (and, through the triggers, the bitmaps) of 100,000 devices takes longer.
    con = await asyncpg.connect(store.dsn, command_timeout=None)
    try:
        for rows in fleet_events(devices):
            recs = [(*r[:4], date.fromisoformat(r[4]), *r[5:], 0, 0, "wall", "{}", 0) for r in rows]
            await con.copy_records_to_table(
                "events",
                records=recs,
                columns=[
                    "device_id",
                    "event_id",
                    "kind",
                    "feature",
                    "day",
                    "device_type",
                    "firmware_version",
                    "account_id",
                    "labels",
                    "ts_ms",
                    "wall_ms",
                    "clock_method",
                    "props",
                    "received_ms",
                ],
            )
            n += len(rows)
        for sql in _ROLLUPS:
            await con.execute(sql)
        await con.execute("ANALYZE")
    finally:
        await con.close()
    return n


async def naive_pes(store: Any, backend: str) -> int:
    """No rollups: DISTINCT active days and feature uses from raw events, then compute_pes."""
    q = make_query(SETTINGS, start=END - timedelta(days=29), end=END, group_by=None)
    seg = Segmenter(q.group_by)
    sqlite = backend == "sqlite"
    day = "day" if sqlite else "to_char(day, 'YYYY-MM-DD')"
    a, b = ("?", "?") if sqlite else ("$1", "$2")
    act_sql = (
        f"SELECT DISTINCT device_id, device_type, firmware_version, labels, {day} "  # noqa: S608
        f"FROM events WHERE kind IN {_ACTIVITY} AND day <= {a}"
    )
    feat_sql = (
        f"SELECT device_id, device_type, firmware_version, labels, {day}, feature, "  # noqa: S608
        f"count(*) FROM events WHERE kind = 'feature_use' AND day BETWEEN {a} AND {b} "
        "GROUP BY 1, 2, 3, 4, 5, 6"
    )
    if sqlite:
        act = await store._fetch(act_sql, (END.isoformat(),))
        feats = await store._fetch(feat_sql, (q.start.isoformat(), END.isoformat()))
    else:  # its own connection: no 60 s statement limit for the baseline
        import asyncpg

        con = await asyncpg.connect(store.dsn, command_timeout=None)
        try:
            act = await con.fetch(act_sql, END)
            feats = await con.fetch(feat_sql, q.start, END)
        finally:
            await con.close()
    activity = [ActivityRow(e, seg(t, f, lb), t, date.fromisoformat(d)) for e, t, f, lb, d in act]
    features = [
        FeatureRow(e, seg(t, f, lb), t, date.fromisoformat(d), ft, int(c))
        for e, t, f, lb, d, ft, c in feats
    ]
    return len(compute_pes(activity, features, q.params(SETTINGS)))


async def _median_ms(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def timings(store: Any) -> tuple[float, float, float, float]:
    """(cold PES, PES, compare, trend) in ms: medians of warm runs over the fleet's last days."""
    pes_q = make_query(SETTINGS, start=END - timedelta(days=29), end=END, group_by=None)
    cmp_q = make_query(
        SETTINGS,
        start=END - timedelta(days=29),
        end=END,
        group_by="",
        filters={"device_type": "press-x"},
    )
    configs = [
        parse_config("a", "firmware_version:2.0"),
        parse_config("b", "firmware_version:2.1"),
    ]
    trend_q = make_query(SETTINGS, start=END - timedelta(days=83), end=END, group_by=None)

    # Each run computes its table: without a write between them the second run would be the
    # kept answer of the first (reports/answers.py), a lookup.
    async def pes() -> Any:
        forget_answers(store)
        return await pes_rows(store, SETTINGS, pes_q)

    async def compare() -> Any:
        return await compare_rows(
            store, SETTINGS, cmp_q, configs, baseline="a", resamples=1000, seed=1
        )

    async def trend() -> Any:
        forget_answers(store)
        return await trend_rows(store, SETTINGS, trend_q, "week")

    cold_ms = await _median_ms(pes, 1)  # loads the analytics tables into memory
    pes_ms = await _median_ms(pes, 5)
    compare_ms = await _median_ms(compare, 3)
    trend_ms = await _median_ms(trend, 3)
    return cold_ms, pes_ms, compare_ms, trend_ms


async def _suite(backend: str, url: str, devices: int) -> list[Figure]:
    note = f"{backend}, {devices:,} devices x {DAYS} days"
    async with open_store(url) as store:
        t0 = time.perf_counter()
        n = await (_fill_sqlite if backend == "sqlite" else _fill_pg)(store, devices)
        _say(f"{backend}: {n:,} events and rollups in {time.perf_counter() - t0:.0f} s")
        cold_ms, pes_ms, compare_ms, trend_ms = await timings(store)
        naive_ms = await _median_ms(lambda: naive_pes(store, backend), 1)
        _say(
            f"{backend}: pes {pes_ms:.0f} ms, compare {compare_ms:.0f} ms, "
            f"trend {trend_ms:.0f} ms, naive {naive_ms:.0f} ms"
        )
    sfx = "" if backend == "sqlite" else "_pg"
    unit = f"ms ({devices // 1000}k devices)"
    return [
        Figure(f"query_pes_cold_ms{sfx}", cold_ms, unit, note="first request: loads tables"),
        Figure(f"query_pes_ms{sfx}", pes_ms, unit, "< 300", note=note),
        Figure(
            f"query_compare_ms{sfx}", compare_ms, unit, "< 2000", note=f"{note}, 1000 resamples"
        ),
        Figure(f"query_trend_ms{sfx}", trend_ms, unit, "< 1000", note=f"{note}, 12 weeks"),
        Figure(
            f"query_vs_naive{sfx}",
            naive_ms / pes_ms,
            "x",
            ">= 20",
            baseline=None,
            note=f"naive {naive_ms:,.0f} ms from raw events, {note}",
        ),
    ]


async def run(size: Size) -> list[Figure]:
    devices = size.pick(100_000, 10_000, 200)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="pes-bench-query-") as tmp:
        figures += await _suite("sqlite", f"sqlite:///{Path(tmp) / 'q.db'}", devices)
    import asyncpg

    try:
        # PostgreSQL at 100,000 devices takes ~10 minutes to fill here (COPY, then the rollups
        # and their bitmap triggers), which alone would break the full run's 10-minute budget:
        # 10,000 devices by default, the full fleet with PES_BENCH_PG_DEVICES=100000.
        # --quick: SQLite only, unless PES_BENCH_PG_DEVICES asks for PostgreSQL too.
        pg_devices = int(os.environ.get("PES_BENCH_PG_DEVICES", "0") or 0)
        if size is Size.QUICK and not pg_devices:
            return figures
        async with _PgDatabase() as pg:
            figures += await _suite(
                "postgresql", pg.dsn, pg_devices or size.pick(10_000, 10_000, 200)
            )
    except (OSError, asyncpg.PostgresError) as exc:
        _say(f"postgresql skipped: {type(exc).__name__}: {exc}")
    return figures


class _PgDatabase:
    """A throwaway database on postgresql://postgres@127.0.0.1:5432, dropped on exit."""

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"

    def __init__(self) -> None:
        import secrets

        self.name = f"pes_bench_{secrets.token_hex(6)}"
        self.dsn = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    async def __aenter__(self) -> _PgDatabase:
        import asyncpg

        con = await asyncpg.connect(self.admin)
        try:
            await con.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await con.close()
        return self

    async def __aexit__(self, *exc: object) -> None:
        import asyncpg

        con = await asyncpg.connect(self.admin)
        try:
            await con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await con.close()
