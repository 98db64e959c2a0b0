"""Entity health (pes.md): a 0..100 score per device or account for customer success, and the
lists built on it: at-risk entities and product-qualified leads (PQLs).

health = w_f * frequency + w_b * breadth + w_k * key_actions + w_d * depth (weights sum to 100):
frequency = active days / L; breadth = adopted_e / |C_e| (as for adoption); key_actions =
min(1, uses of key-action features / (target * L / 30)); depth = min(1, mean session minutes /
target minutes). Listed entities: those active in P, and those dropped (active in P' only),
whose health over P is 0. The previous period's health gives `change` (null for an entity not
active in P'), which the optional "falling" at-risk reason uses.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from collector.analytics.cube import Members, PeriodStats, period_stats
from collector.analytics.params import DEFAULT_CORE_KEY, PesParams
from collector.analytics.state import Cube

# (entity, day ordinal, feature, uses) and (entity, day ordinal, sessions, seconds)
UseRow = tuple[str, int, str, int]
SessionRow = tuple[str, int, int, float]


@dataclass(frozen=True, slots=True)
class HealthParams:
    weights: tuple[float, float, float, float] = (25, 35, 25, 15)
    key_actions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    target_uses_per_30_days: float = 10
    target_session_minutes: float = 30
    at_risk_below: float = 30
    falling_points: float | None = None


def previous(params: PesParams) -> PesParams:
    return dataclasses.replace(
        params,
        start=params.start - timedelta(days=params.length),
        end=params.start - timedelta(days=1),
    )


def _scores(
    st: PeriodStats, hp: HealthParams, uses: Iterable[UseRow], sessions: Iterable[SessionRow]
) -> dict[str, dict[str, Any]]:
    """Components for every entity active in the period of `st`."""
    params, mem = st.params, st.mem
    start, end, length = params.start.toordinal(), params.end.toordinal(), params.length
    active_days = mem.days_between(start, end)
    key_sets: dict[int, set[str]] = {}
    for t_i, t in enumerate(st.type_names):
        names = hp.key_actions.get(t, hp.key_actions.get(DEFAULT_CORE_KEY))
        core = {st.vocab[j] for j in np.flatnonzero(st.core[t_i]).tolist()}
        key_sets[t_i] = set(names) if names is not None else core
    out: dict[str, dict[str, Any]] = {}
    for m in np.flatnonzero(st.active).tolist():
        keys: set[str] = set()
        for t_i in np.flatnonzero(st.types[m]).tolist():
            keys |= key_sets[t_i]
        out[mem.entity[m]] = {
            "active_days": int(active_days[m]),
            "frequency": float(active_days[m]) / length,
            "breadth": float(st.share[m]) if st.has_core[m] else 0.0,
            "_keys": keys,
            "_uses": 0,
            "_sessions": 0,
            "_seconds": 0.0,
        }
    for e, day, feature, n in uses:
        row = out.get(e)
        if row is not None and start <= day <= end and feature in row["_keys"]:
            row["_uses"] += n
    for e, day, count, seconds in sessions:
        row = out.get(e)
        if row is not None and start <= day <= end:
            row["_sessions"] += count
            row["_seconds"] += seconds
    target = hp.target_uses_per_30_days * length / 30
    w_f, w_b, w_k, w_d = hp.weights
    for row in out.values():
        row["key_actions"] = min(1.0, row.pop("_uses") / target)
        n_sessions, seconds = row.pop("_sessions"), row.pop("_seconds")
        minutes = seconds / n_sessions / 60 if n_sessions else 0.0
        row["depth"] = min(1.0, minutes / hp.target_session_minutes)
        row["mean_session_minutes"] = minutes if n_sessions else None
        del row["_keys"]
        row["health"] = (
            w_f * row["frequency"]
            + w_b * row["breadth"]
            + w_k * row["key_actions"]
            + w_d * row["depth"]
        )
    return out


def entity_health(
    cube: Cube,
    mem: Members,
    params: PesParams,
    hp: HealthParams,
    uses: Sequence[UseRow],
    sessions: Sequence[SessionRow],
) -> list[dict[str, Any]]:
    """One row per entity active in P or P' (members of `mem`, built with an empty group_by),
    sorted by entity, with at-risk reasons and the PQL flag."""
    now = _scores(period_stats(cube, mem, params), hp, uses, sessions)
    before = _scores(period_stats(cube, mem, previous(params)), hp, uses, sessions)
    zero = {
        "active_days": 0,
        "frequency": 0.0,
        "breadth": 0.0,
        "key_actions": 0.0,
        "depth": 0.0,
        "mean_session_minutes": None,
        "health": 0.0,
    }
    healths = sorted((r["health"] for r in now.values()), reverse=True)
    # Top quartile: at least the health of the ceil(n/4)-th best active entity (ties included).
    pql_cut = healths[math.ceil(len(healths) / 4) - 1] if healths else math.inf
    rows: list[dict[str, Any]] = []
    for e in sorted(now.keys() | before.keys()):
        row = {"entity": e, **now.get(e, zero)}
        prev = before.get(e)
        row["health_prev"] = prev["health"] if prev else None
        row["change"] = row["health"] - prev["health"] if prev else None
        row["dropped"] = e not in now
        reasons = []
        if row["health"] < hp.at_risk_below:
            reasons.append("low")
        if row["dropped"]:
            reasons.append("dropped")
        if (
            hp.falling_points is not None
            and row["change"] is not None
            and row["change"] <= -hp.falling_points
        ):
            reasons.append("falling")
        row["at_risk"] = bool(reasons)
        row["reasons"] = reasons
        row["pql"] = e in now and row["health"] >= pql_cut
        rows.append(row)
    return rows


def health_range(params: PesParams) -> tuple[int, int]:
    """Ordinals a cube must cover: P, P' and P'' (P' needs its own previous period)."""
    start = params.start.toordinal()
    return start - params.length - max(params.length, 29), params.end.toordinal()
