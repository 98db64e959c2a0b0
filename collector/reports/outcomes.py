"""Outcomes (specs/outcomes.md): importing customer outcomes and the report that checks
whether entity health predicts them. The API (`POST /v1/outcomes`, `GET /v1/outcomes/report`)
and the CLI (`pes-collector outcomes import|report`) both call these.

Import: JSON lines parsed whole by `analytics.outcome_records` (the first bad line refuses the
import with its number and reason) and stored in one transaction, so a refused import stores
nothing. Report: for each stored outcome of the entity kind, the entity's health over
P = score_period(day, lead, length), computed exactly as `health_rows` (configured health
weights and targets, the whole fleet, no filter), once per distinct P from one snapshot and
one read of the rollups; an entity without a row scores 0 (`ScoredOutcome.inactive`).
Filters narrow which outcomes are reported: those whose entity was active in P with that
device type / firmware version.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Generic, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from collector.analytics.cube import members
from collector.analytics.health import UseRow, entity_health, health_range
from collector.analytics.outcome_records import (
    OutcomeLineError,
    parse_outcome_lines,
)
from collector.analytics.outcomes import (
    DEFAULT_BANDS,
    DEFAULT_LEAD_DAYS,
    DEFAULT_LENGTH_DAYS,
    SIGNALS,
    ScoredOutcome,
    check_bands,
    report,
    score_period,
)
from collector.analytics.params import PesParams
from collector.analytics.state import Cube, Snapshot
from collector.errors import QueryError
from collector.reports.query import PesQuery
from collector.reports.tables import current_snapshot, health_params, off_loop
from collector.settings import PesSettings
from collector.storage import Entity, OutcomeTuple, Store
from collector.storage.base import EntitySessionsTuple, EntityUsesTuple

MAX_LEAD_DAYS: Final = 365
MAX_PERIOD_DAYS: Final = 365
MAX_BAND_EDGES: Final = 21
_ENTITIES: dict[str, Entity] = {e: e for e in get_args(Entity)}
_RETAINED: Final = frozenset({"renewed", "expanded"})

__all__ = [
    "MAX_LEAD_DAYS",
    "MAX_PERIOD_DAYS",
    "OutcomeLineError",
    "OutcomeQuery",
    "import_outcomes",
    "make_outcome_query",
    "outcome_band_rows",
    "outcome_report",
    "parse_bands",
]


@dataclass(frozen=True, slots=True)
class OutcomeQuery:
    entity: Entity = "account"
    lead: int = DEFAULT_LEAD_DAYS
    length: int = DEFAULT_LENGTH_DAYS
    bands: tuple[float, ...] = DEFAULT_BANDS
    # Equality filters (device_type, firmware_version) on the entity's activity in P, sorted.
    filters: tuple[tuple[str, str], ...] = ()


def parse_bands(text: str | None) -> tuple[float, ...]:
    """`0,30,60,70,100` -> edges checked by analytics.outcomes.check_bands; None: the defaults."""
    if text is None or not text.strip():
        return DEFAULT_BANDS
    parts = text.split(",")
    if len(parts) > MAX_BAND_EDGES:
        raise QueryError(f"bands take at most {MAX_BAND_EDGES} edges")
    try:
        return check_bands([float(p) for p in parts])
    except ValueError as exc:
        raise QueryError(f"bands: {exc}") from exc


def make_outcome_query(
    *,
    entity: str = "account",
    lead: int = DEFAULT_LEAD_DAYS,
    length: int = DEFAULT_LENGTH_DAYS,
    bands: str | None = None,
    device_type: str | None = None,
    firmware_version: str | None = None,
) -> OutcomeQuery:
    ent = _ENTITIES.get(entity)
    if ent is None:
        raise QueryError("entity must be account or device")
    if not 0 <= lead <= MAX_LEAD_DAYS:
        raise QueryError(f"lead must be 0 to {MAX_LEAD_DAYS} days")
    if not 1 <= length <= MAX_PERIOD_DAYS:
        raise QueryError(f"period_days must be 1 to {MAX_PERIOD_DAYS}")
    given = {"device_type": device_type, "firmware_version": firmware_version}
    filters = tuple(sorted((k, v) for k, v in given.items() if v is not None))
    return OutcomeQuery(ent, lead, length, parse_bands(bands), filters)


async def import_outcomes(store: Store, lines: Iterable[str | bytes]) -> int:
    """Parse every line, then store them all in one transaction; OutcomeLineError (nothing
    stored) for the first bad line. The number of outcomes stored (one per key)."""
    records = await off_loop(lambda: parse_outcome_lines(lines))  # up to 1M lines: not on the loop
    return await store.put_outcomes([(r.entity, r.id, r.outcome, r.date) for r in records])


def _periods(rows: list[OutcomeTuple], q: OutcomeQuery) -> dict[tuple[date, date], list[int]]:
    """Outcome indexes per distinct score period."""
    out: dict[tuple[date, date], list[int]] = {}
    for i, row in enumerate(rows):
        out.setdefault(score_period(row[3], q.lead, q.length), []).append(i)
    return out


async def _active_filtered(
    snapshot: Snapshot, entity: Entity, start: date, end: date, filters: dict[str, str]
) -> set[str]:
    """Entities active in [start, end] with the filters' device type / firmware version."""
    lo, hi = start.toordinal(), end.toordinal()
    cube = snapshot.view(lo, hi, filters)

    def compute() -> set[str]:
        mem = members(cube, (), entity)
        active = mem.active_between(lo, hi).tolist()
        return {e for e, a in zip(mem.entity, active, strict=True) if a}

    return await off_loop(compute)


K = TypeVar("K", str, tuple[str, str])


def _entity(key: str | tuple[str, str]) -> str:
    return key if isinstance(key, str) else key[0]


class _Sums(Generic[K]):
    """Rollup rows as columns sorted by day, so that the totals per key over any day range are
    one bincount: `keys[code]`, and per row its day ordinal, key code and values. A key is an
    entity or (entity, feature)."""

    def __init__(
        self, day: Iterable[int], key: Iterable[K], values: npt.NDArray[np.float64]
    ) -> None:
        """Per row: its day, its key and its values (a row of `values`)."""
        codes: dict[K, int] = {}
        n = len(values)
        days = np.fromiter(day, np.int64, n)
        code = np.fromiter((codes.setdefault(k, len(codes)) for k in key), np.int64, n)
        order = np.argsort(days, kind="stable")
        self.day, self.code, self.values = days[order], code[order], values[order]
        self.keys: list[K] = list(codes)
        entities: dict[str, int] = {}
        self.entity = np.fromiter(
            (entities.setdefault(_entity(k), len(entities)) for k in self.keys),
            np.int64,
            len(self.keys),
        )  # per key, its entity's code in `entities`
        self.entities = entities

    def between(self, a: int, b: int, wanted: set[str]) -> list[tuple[K, list[float]]]:
        """(key, totals) for every key of a `wanted` entity with a non-zero total over days
        [a, b], in key order (only those become Python objects: a period wants a few)."""
        i, j = np.searchsorted(self.day, a, "left"), np.searchsorted(self.day, b, "right")
        n = len(self.keys)
        cols = [
            np.bincount(self.code[i:j], weights=self.values[i:j, k], minlength=n)
            for k in range(self.values.shape[1])
        ]
        totals = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
        codes = [self.entities[e] for e in wanted if e in self.entities]
        mine = np.isin(self.entity, np.asarray(codes, np.int64))
        nonzero = np.flatnonzero(totals.any(axis=1) & mine).tolist()
        return [(self.keys[c], totals[c].tolist()) for c in nonzero]


def _use_sums(rows: list[EntityUsesTuple]) -> _Sums[tuple[str, str]]:
    values = np.fromiter((r[3] for r in rows), np.float64, len(rows)).reshape(-1, 1)
    return _Sums((r[1] for r in rows), ((r[0], r[2]) for r in rows), values)


def _session_sums(rows: list[EntitySessionsTuple]) -> _Sums[str]:
    values = np.array([(r[2], r[3]) for r in rows], np.float64).reshape(-1, 2)
    return _Sums((r[1] for r in rows), (r[0] for r in rows), values)


async def _health_by_period(
    store: Store,
    snapshot: Snapshot,
    settings: PesSettings,
    entity: Entity,
    periods: dict[tuple[date, date], set[str]],
) -> dict[tuple[date, date], dict[str, dict[str, Any]]]:
    """Entity health over each period, as `health_rows(store, settings, PesQuery(start, end,
    (), entity), "all")` gives it (the same pure `entity_health`), from one snapshot and one
    read of feature uses and sessions spanning every period instead of one read per period.
    `periods` maps each P to the entities whose health is wanted (those with an outcome there):
    health is computed for those alone. An entity's health depends on no other entity except
    through the fleet's core sets, which period_stats takes from the whole cube, not from the
    members. Each computation gets its P's uses per (entity, feature) and sessions per entity
    already summed (dated P's first day), which entity_health sums to the same totals; the
    previous period's figures, which these rows do not need, are left out."""
    if not periods:
        return {}
    lo, hi = min(p[0] for p in periods), max(p[1] for p in periods)
    # Per entity and day, the segments already summed by the store: a fraction of the rows of
    # store.features / store.sessions, and days as ordinals (no date parsing). One after the
    # other, each turned into columns before the next read: the rows are most of the memory.
    feats = await store.entity_uses(entity, lo, hi)
    uses = await off_loop(functools.partial(_use_sums, feats))
    del feats
    sess = await store.entity_sessions(entity, lo, hi)
    sessions = await off_loop(functools.partial(_session_sums, sess))
    del sess
    hp = health_params(settings)
    out: dict[tuple[date, date], dict[str, dict[str, Any]]] = {}
    column = "device_id" if entity == "device" else "account_id"
    for (start, end), wanted in periods.items():
        params = PesQuery(start, end, (), entity).params(settings)
        cube = snapshot.view(*health_range(params), {})

        def compute(
            cube: Cube = cube, params: PesParams = params, wanted: set[str] = wanted
        ) -> dict[str, dict[str, Any]]:
            a, b = params.start.toordinal(), params.end.toordinal()
            codes, names = cube.attr(column)
            keep = np.isin(codes, [k for k, name in enumerate(names) if name in wanted])
            u: list[UseRow] = [(e, a, f, int(n)) for (e, f), (n,) in uses.between(a, b, wanted)]
            ss = [(e, a, int(c), sec) for e, (c, sec) in sessions.between(a, b, wanted)]
            mem = members(cube, (), entity, keep)
            return {r["entity"]: r for r in entity_health(cube, mem, params, hp, u, ss)}

        out[(start, end)] = await off_loop(compute)
    return out


async def outcome_report(
    store: Store, settings: PesSettings, q: OutcomeQuery, *, seed: int = 0
) -> dict[str, Any]:
    """`analytics.outcomes.report` over the stored outcomes of `q.entity`, scored as above."""
    rows = await store.outcomes(q.entity)
    snapshot = await current_snapshot(store)  # one version of the tables for every period
    wanted: dict[tuple[date, date], set[str]] = {}
    for period, indexes in _periods(rows, q).items():
        ids = {rows[i][1] for i in indexes}
        if q.filters:  # only outcomes of entities active in P with the filters' attributes
            ids &= await _active_filtered(snapshot, q.entity, *period, dict(q.filters))
        wanted[period] = ids
    # No filters, no group-by: health over the whole fleet, as the contract says.
    health = await _health_by_period(store, snapshot, settings, q.entity, wanted)
    items: list[tuple[int, ScoredOutcome]] = []
    for i, (_, ident, outcome, day) in enumerate(rows):
        period = score_period(day, q.lead, q.length)
        if ident in wanted[period]:
            row = health[period].get(ident)
            items.append((i, ScoredOutcome.from_health_row(outcome in _RETAINED, row)))
    items.sort(key=lambda t: t[0])  # the stored order (day, id): the same input every time
    weights = dict(zip(SIGNALS, settings.health.weights, strict=True))
    scored = [s for _, s in items]
    try:
        return await off_loop(lambda: report(scored, q.bands, weights, seed))
    except ValueError as exc:
        raise QueryError(str(exc)) from exc


def outcome_band_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's bands as flat rows (rate_ci as rate_low, rate_high): its CSV and table."""
    return [
        {**{k: v for k, v in b.items() if k != "rate_ci"},
         "rate_low": b["rate_ci"][0] if b["rate_ci"] else None,
         "rate_high": b["rate_ci"][1] if b["rate_ci"] else None}
        for b in result["bands"]
    ]  # fmt: skip
