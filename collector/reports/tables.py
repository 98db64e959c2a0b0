"""Report tables: load the bitmap rollups once per request, run the pure analyses of
collector.analytics, return plain rows. The HTTP API, the CLI and the alert job all call these,
so they give the same rows for the same parameters (`pes-collector report` and `GET /v1/pes`
are one code path)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, Literal, TypeVar

from collector.analytics.bits import any_between
from collector.analytics.compare import Config, compare
from collector.analytics.cube import (
    aggregate,
    feature_counts,
    fleet_features,
    members,
    needed_range,
    period_stats,
)
from collector.analytics.funnel import funnel, funnel_range
from collector.analytics.health import HealthParams, entity_health, health_range
from collector.analytics.overview import lifecycle_row, series
from collector.analytics.params import PesParams
from collector.analytics.pes_table import pes_table, supported, trend_tables
from collector.analytics.retention import MAX_WEEKS, retention, retention_range
from collector.analytics.segments import SegmentStates
from collector.analytics.state import Cube, CubeState, Snapshot
from collector.analytics.trend import Interval, periods, trend, trend_range
from collector.errors import QueryError
from collector.reports import warmstart
from collector.reports.answers import Answers
from collector.reports.query import PesQuery, make_query, result_row
from collector.settings import PesSettings
from collector.storage import NO_CURSOR, Store

HealthList = Literal["all", "at_risk", "pql"]
T = TypeVar("T")


# One in-memory copy of the analytics tables per open store, brought up to date at the start
# of every request with the rows changed since the previous one (see analytics/state.py).
_STATES: weakref.WeakKeyDictionary[Store, tuple[CubeState, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


# Per open store, the per-segment state of the groupings the PES table and trend were asked
# for, brought up to date from each request's snapshot (see analytics/segments.py).
_SEGMENTS: weakref.WeakKeyDictionary[Store, SegmentStates] = weakref.WeakKeyDictionary()


# Per open store, the PES tables and trends computed from its newest snapshot (answers.py).
_ANSWERS: weakref.WeakKeyDictionary[Store, Answers] = weakref.WeakKeyDictionary()


def segment_states(store: Store) -> SegmentStates:
    states = _SEGMENTS.get(store)
    if states is None:
        states = _SEGMENTS[store] = SegmentStates()
    return states


async def current_snapshot(store: Store) -> Snapshot:
    """Bring the state up to date and return its snapshot. A request takes it once and reads
    nothing else of the state: later refreshes swap in new snapshots and never change this one,
    so everything the request computes comes from one version of the tables."""
    entry = _STATES.get(store)
    if entry is None:
        entry = _STATES[store] = (CubeState(), asyncio.Lock())
    state, lock = entry
    async with lock:
        full_load = state.cursor == NO_CURSOR
        if full_load and (restored := await warmstart.restore(store)) is not None:
            state, full_load = restored, False
            _STATES[store] = (state, lock)
        changes = await store.analytics_changes(state.cursor)
        if not len(changes.activity) and not len(changes.feature_bits):
            # Nothing changed: the same snapshot, so what was computed from it still holds
            # (answers.py, SegmentState.update). A new one would be equal, at a copy's cost.
            state.cursor = changes.cursor
            warmstart.after_refresh(store, state, full_load=full_load)
            return state.snapshot
        combos, features = state.missing(changes)
        if combos or features:
            state.add_names(*await store.analytics_names(combos, features))
        state.apply(changes)
        warmstart.after_refresh(store, state, full_load=full_load)
        return state.snapshot


async def off_loop(compute: Callable[[], T]) -> T:
    """Run an analysis in a worker thread: it takes up to about a second of CPU, and `serve`
    shares its event loop with MQTT ingest, whose acks must not wait for a report. The cube it
    works on comes from one immutable snapshot, so the next request may refresh meanwhile."""
    return await asyncio.to_thread(compute)


async def load_cube(store: Store, lo: int, hi: int, q: PesQuery) -> Cube:
    """The analytics tables for days [lo, hi] (ordinals) after the query's filters."""
    snapshot = await current_snapshot(store)
    return snapshot.view(lo, hi, dict(q.filters))


def _segment(group_by: Sequence[str], segment: Sequence[str | None]) -> dict[str, Any]:
    return dict(zip(group_by, segment, strict=True))


def forget_answers(store: Store) -> None:
    """Drop the tables kept for `store`: a benchmark that times the computation of a table
    asked again on one snapshot calls it before each run (bench/query.py)."""
    _ANSWERS.pop(store, None)


async def _answer(
    store: Store,
    snapshot: Snapshot,
    key: tuple[Any, ...],
    settings: PesSettings,
    compute: Callable[[], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """The rows of `compute` (run off the loop), or the same rows kept from an earlier request
    on this snapshot with the same key and settings."""
    answers = _ANSWERS.get(store)
    if answers is None:
        answers = _ANSWERS[store] = Answers()
    rows = answers.get(snapshot, key, settings)
    if rows is None:
        rows = await off_loop(compute)
        answers.put(snapshot, key, settings, rows)
    return rows


async def pes_rows(store: Store, settings: PesSettings, q: PesQuery) -> list[dict[str, Any]]:
    """The PES table. Its row dicts may be shared with other callers: do not change them."""
    params = q.params(settings)
    snapshot = await current_snapshot(store)
    if not supported(snapshot):
        return await _answer(store, snapshot, ("pes", q), settings,
                             lambda: pes_rows_previous(snapshot, q, params))  # fmt: skip
    st = segment_states(store).get(q.group_by, q.entity, dict(q.filters))

    def compute() -> list[dict[str, Any]]:
        with st.lock:
            st.update(snapshot)
            return [result_row(q.group_by, r) for r in pes_table(st, snapshot, params)]

    return await _answer(store, snapshot, ("pes", q), settings, compute)


async def warm_up_pes(store: Store, settings: PesSettings) -> None:
    """The state (from the saved file when there is one) and the per-segment state of the
    default PES table, which the dashboard's first page and the /metrics gauges ask for."""
    await pes_rows(store, settings, make_query(settings, start=None, end=None, group_by=None))


def pes_rows_previous(snapshot: Snapshot, q: PesQuery, params: PesParams) -> list[dict[str, Any]]:
    """The PES table from per-member arrays (cube.period_stats): the path before
    analytics/segments.py, for more than pes_table.MAX_TYPES device types and as the bench's
    same-run baseline."""
    cube = snapshot.view(*needed_range(params), dict(q.filters))
    stats = period_stats(cube, members(cube, q.group_by, q.entity), params)
    return [result_row(q.group_by, r) for r in aggregate(stats)]


async def compare_rows(
    store: Store,
    settings: PesSettings,
    q: PesQuery,
    configs: Sequence[Config],
    *,
    baseline: str,
    resamples: int,
    seed: int,
) -> list[dict[str, Any]]:
    params = q.params(settings)
    cube = await load_cube(store, *needed_range(params), q)

    def compute() -> list[dict[str, Any]]:
        try:
            return compare(cube, configs, params, q.entity, baseline=baseline,
                           resamples=resamples, seed=seed)  # fmt: skip
        except ValueError as exc:
            raise QueryError(str(exc)) from exc

    return await off_loop(compute)


def _spans(q: PesQuery, interval: Interval) -> list[tuple[date, date]]:
    try:
        return periods(q.start, q.end, interval)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc


async def trend_rows(
    store: Store, settings: PesSettings, q: PesQuery, interval: Interval
) -> list[dict[str, Any]]:
    """The trend per period. Its row dicts may be shared with other callers: do not change
    them."""
    spans = _spans(q, interval)
    template = q.params(settings)
    snapshot = await current_snapshot(store)
    key = ("trend", q, interval)
    if not supported(snapshot):
        return await _answer(store, snapshot, key, settings,
                             lambda: trend_rows_previous(snapshot, q, spans, template))  # fmt: skip
    st = segment_states(store).get(q.group_by, q.entity, dict(q.filters))

    def compute() -> list[dict[str, Any]]:
        with st.lock:
            st.update(snapshot)
            return [
                {"period_start": a.isoformat(), "period_end": b.isoformat(),
                 **result_row(q.group_by, r)}
                for a, b, r in trend_tables(st, snapshot, spans, template)
            ]  # fmt: skip

    return await _answer(store, snapshot, key, settings, compute)


def trend_rows_previous(
    snapshot: Snapshot, q: PesQuery, spans: Sequence[tuple[date, date]], template: PesParams
) -> list[dict[str, Any]]:
    """The trend from per-member arrays (see pes_rows_previous)."""
    cube = snapshot.view(*trend_range(spans, template), dict(q.filters))
    mem = members(cube, q.group_by, q.entity)
    return [
        {"period_start": a.isoformat(), "period_end": b.isoformat(), **result_row(q.group_by, r)}
        for a, b, r in trend(cube, mem, spans, template)
    ]


async def overview_tables(
    store: Store, settings: PesSettings, q: PesQuery, interval: Interval
) -> dict[str, list[dict[str, Any]]]:
    """series (DAU/WAU/MAU per day), features (adoption per core feature over the whole range),
    lifecycle (new/recovered/dropped, quick ratio, net growth per week or month)."""
    spans = _spans(q, interval)
    params = q.params(settings)
    lo, hi = trend_range(spans, params)
    lo = min(lo, needed_range(params)[0])
    cube = await load_cube(store, lo, max(hi, q.end.toordinal()), q)

    def compute() -> dict[str, list[dict[str, Any]]]:
        mem = members(cube, q.group_by, q.entity)
        seg = mem.segments
        out_series = [
            {"day": d.isoformat(), **_segment(q.group_by, seg[k]), "dau": c[0], "wau": c[1],
             "mau": c[2], "dau_mau": c[0] / c[2] if c[2] else None}
            for d, k, c in series(mem, q.start, q.end)
        ]  # fmt: skip
        stats = period_stats(cube, mem, params)
        users, eligible = feature_counts(stats)
        index = {s: k for k, s in enumerate(seg)}
        col = {f: j for j, f in enumerate(stats.vocab)}
        feats = [
            {**_segment(q.group_by, r.segment), "feature": f, "adoption": share,
             "users": users[index[r.segment]][col[f]],
             "eligible": eligible[index[r.segment]][col[f]], "active": r.active}
            for r in aggregate(stats)
            for f, share in r.feature_adoption.items()
        ]  # fmt: skip
        cycle = [
            {**lifecycle_row(a, b, r), **_segment(q.group_by, r.segment)}
            for a, b, r in trend(cube, mem, spans, params)
        ]
        return {"series": out_series, "features": feats, "lifecycle": cycle}

    return await off_loop(compute)


def _device_accounts(cube: Cube, lo: int, hi: int) -> dict[str, str]:
    """Per device, the account(s) of its activity in days [lo, hi] (ordinals; several are
    comma-joined, sorted: a device that moved between accounts)."""
    seen = any_between(cube, cube.words, lo, hi)
    devices, accounts = cube.codes["device_id"][seen], cube.codes["account_id"][seen]
    pairs = set(zip(devices.tolist(), accounts.tolist(), strict=True))
    out: dict[str, set[str]] = {}
    for d, a in pairs:
        out.setdefault(cube.vocab["device_id"][d], set()).add(cube.vocab["account_id"][a])
    return {d: ",".join(sorted(a)) for d, a in out.items()}


def health_params(settings: PesSettings) -> HealthParams:
    h = settings.health
    return HealthParams(
        weights=h.weights,
        key_actions=h.key_actions,
        target_uses_per_30_days=h.target_uses_per_30_days,
        target_session_minutes=h.target_session_minutes,
        at_risk_below=h.at_risk_below,
        falling_points=h.falling_points,
    )


async def health_rows(
    store: Store, settings: PesSettings, q: PesQuery, which: HealthList = "all"
) -> list[dict[str, Any]]:
    """Entity health over P; `at_risk` sorted by health ascending, `pql` descending."""
    params = q.params(settings)
    lo, hi = health_range(params)
    cube = await load_cube(store, lo, hi, q)
    since = q.start - timedelta(days=params.length)
    filters = dict(q.filters)
    feats, sess = await asyncio.gather(
        store.features(q.entity, since, q.end, filters),
        store.sessions(q.entity, since, q.end, filters),
    )
    uses = [(r[0], date.fromisoformat(r[4]).toordinal(), r[5], int(r[6])) for r in feats]
    sessions = [(r[0], date.fromisoformat(r[4]).toordinal(), int(r[5]), float(r[6])) for r in sess]
    rows = await off_loop(
        lambda: entity_health(cube, members(cube, (), q.entity), params,
                              health_params(settings), uses, sessions)
    )  # fmt: skip
    if q.entity == "device":
        accounts = _device_accounts(cube, q.start.toordinal() - params.length, q.end.toordinal())
        rows = [{**r, "account_id": accounts.get(r["entity"])} for r in rows]
    if which == "at_risk":
        return sorted((r for r in rows if r["at_risk"]), key=lambda r: (r["health"], r["entity"]))
    if which == "pql":
        return sorted((r for r in rows if r["pql"]), key=lambda r: (-r["health"], r["entity"]))
    return rows


async def funnel_rows(
    store: Store, settings: PesSettings, q: PesQuery, days: int, today: date
) -> list[dict[str, Any]]:
    params = q.params(settings)
    lo, hi = funnel_range(params, days)
    cube = await load_cube(store, lo, hi, q)

    def compute() -> list[dict[str, Any]]:
        mem = members(cube, q.group_by, q.entity)
        fleet = fleet_features(cube, lo, q.end.toordinal())
        rows = funnel(cube, mem, params, days, today, fleet)
        return [{**_segment(q.group_by, mem.segments[r.pop("_segment")]), **r} for r in rows]

    return await off_loop(compute)


async def retention_rows(store: Store, q: PesQuery, weeks: int) -> list[dict[str, Any]]:
    """Weekly retention of the cohorts first active between q.start's week and q.end
    (analytics/retention.py), per q.group_by."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise QueryError(f"weeks must be 1 to {MAX_WEEKS}")
    lo, hi = retention_range(q.start, q.end)
    cube = await load_cube(store, lo, hi, q)
    return await off_loop(lambda: retention(cube, q.group_by, q.entity, q.start, q.end, weeks))


__all__ = [
    "HealthList",
    "compare_rows",
    "current_snapshot",
    "forget_answers",
    "funnel_rows",
    "health_params",
    "health_rows",
    "load_cube",
    "overview_tables",
    "pes_rows",
    "retention_rows",
    "trend_rows",
]
