"""Compare configurations (e.g. firmware 2.1 vs 2.0 on one device type) with bootstrap CIs.

A configuration is a set of equality conditions on event attributes; like a segment, membership
is per event, so a device that upgraded mid-period contributes its 2.0 days to one configuration
and its 2.1 days to the other. For each configuration the PES and its components are computed
exactly as for a segment (collector.analytics.cube), then a seeded bootstrap resamples entities:

- The unit drawn is the entity (device or account). Each resample draws n entities with
  replacement from the n entities of the union of all configurations, so an entity present in
  two configurations is drawn (or not) for both at once and the deltas stay paired.
- An entity carries its whole contribution: its adoption share (if it has core features), for
  every day of P whether it counts in the stickiness numerator and denominator windows, and
  whether it is new, recovered or dropped.
- Stickiness of a resample = mean over the days of P (with a non-zero denominator) of
  sum(numerators) / sum(denominators) over the drawn entities, i.e. pes.md's formula applied to
  the resampled fleet, not a mean of per-entity ratios. Growth = 100 (new + recovered) /
  (new + recovered + dropped) over the drawn entities (50 when all three are zero).
- Beyond BUCKETS entities, the unit drawn is a bucket of entities (a seeded random partition
  into BUCKETS buckets of equal size): the bucket bootstrap of experimentation platforms,
  whose cost does not grow with the fleet. Each bucket carries the sum of its entities'
  contributions; an entity is in the same bucket for every configuration (still paired).
  Point values never go through the resamples.
- The 95% interval is the 2.5th..97.5th percentile of the resampled values (of a configuration,
  or of its difference to the baseline); resamples where a value is undefined are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from collector.analytics.arrays import Bools
from collector.analytics.cube import PeriodStats, aggregate, members, period_stats
from collector.analytics.params import PesParams
from collector.analytics.releases_stats import bootstrap_p, holm
from collector.analytics.state import Cube

METRICS = ("pes", "adoption", "stickiness", "growth")
ATTRS = ("device_type", "firmware_version", "account_id", "device_id")
MAX_CONFIGS = 6
_CHUNK = 50  # resamples per matrix product: bounds memory at 50 x units weights
# Entities are resampled in this many buckets once a comparison has more entities than that
# (docs/analytics.md, "Compare"): the bootstrap's cost stops growing with the fleet.
BUCKETS = 2000
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    conditions: tuple[tuple[str, str], ...]

    @property
    def definition(self) -> str:
        return ",".join(f"{a}:{v}" for a, v in self.conditions)


def parse_config(name: str, text: str) -> Config:
    """`firmware_version:2.1,label:site:north` -> conditions; raises ValueError if malformed."""
    conditions: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.startswith("label:"):
            key, sep, value = part[6:].partition(":")
            attr = f"label:{key}"
        else:
            attr, sep, value = part.partition(":")
        known = attr in ATTRS or (attr.startswith("label:") and attr != "label:")
        if not sep or not value or not known:
            raise ValueError(
                f"configuration {name}={text[:80]!r}: use attribute:value pairs separated by "
                f"commas, attributes {', '.join(ATTRS)} or label:<key>"
            )
        conditions.append((attr, value))
    if not conditions:
        raise ValueError(f"configuration {name} is empty")
    return Config(name, tuple(conditions))


def config_mask(cube: Cube, config: Config) -> Bools:
    return cube.matches(config.conditions)


@dataclass(frozen=True, slots=True)
class _Parts:
    """One configuration's contributions summed per resampled unit (a bucket of entities, or
    one entity), zero where it has none, stored transposed: (features x units) @ (units x
    resamples) is the product shape BLAS runs fast; the other orientation was 15 times slower
    here."""

    # (5, units): adoption share, has core features, new|recovered, dropped, active in P or P'
    vectors: F32
    days: F32  # (2L, units): numerator windows, then denominator windows, per day of P


def _parts(st: PeriodStats, rows: npt.NDArray[np.int64], unit: npt.NDArray[np.int64],
           units: int) -> _Parts:  # fmt: skip
    """Sums of the members `rows` of `st` per unit, member rows[i] belonging to unit[i]."""
    order = np.argsort(unit, kind="stable")
    rows, unit = rows[order], unit[order]
    vectors = np.zeros((5, units), np.float32)
    cols = [st.share * st.has_core, st.has_core, st.new | st.recovered, st.dropped,
            st.active | st.in_prev]  # fmt: skip
    for k, col in enumerate(cols):
        vectors[k] = np.bincount(unit, weights=col[rows], minlength=units)
    length = st.num.shape[1]
    days = np.zeros((2 * length, units), np.float32)
    for k, src in enumerate((st.num, st.den)):
        days[k * length : (k + 1) * length] = unit_sums(src[rows], unit, units).T
    return _Parts(vectors, days)


def unit_sums(x: Bools, unit: npt.NDArray[np.int64], units: int) -> npt.NDArray[np.int32]:
    """(units, columns): the rows of x summed per unit, for rows sorted by unit (unit[i] the
    unit of row i); zero for a unit without rows. A segmented sum (reduceat) over x with a zero
    row appended, so that the last unit's segment ends at the end; reduceat gives an empty
    segment the next row instead of zero, hence the mask."""
    padded = np.zeros((len(x) + 1, x.shape[1]), x.dtype)
    padded[:-1] = x
    starts = np.searchsorted(unit, np.arange(units))
    sums = np.add.reduceat(padded, starts, axis=0, dtype=np.int32)
    sums[np.bincount(unit, minlength=units) == 0] = 0
    return sums


def _metrics(p: _Parts, w: F32, weights: tuple[float, float, float]) -> dict[str, F64]:
    """Each metric for each row of weights w (resamples x entities); NaN where undefined."""
    vec = (p.vectors @ w.T).T.astype(np.float64)
    nd = (p.days @ w.T).T.astype(np.float64)
    length = p.days.shape[0] // 2
    num, den = nd[:, :length], nd[:, length:]
    with np.errstate(invalid="ignore", divide="ignore"):
        adoption = np.where(vec[:, 1] > 0, 100.0 * vec[:, 0] / vec[:, 1], np.nan)
        ratios = np.where(den > 0, num / den, 0.0)
        days = (den > 0).sum(axis=1)
        stick = np.where(days > 0, 100.0 * ratios.sum(axis=1) / np.maximum(days, 1), np.nan)
        total = vec[:, 2] + vec[:, 3]
        # Nothing moved: 50 (pes.md); but a resample that drew nobody of this configuration
        # active in P or P' has no growth at all, as _point says for the value.
        growth = np.where(
            total > 0, 100.0 * vec[:, 2] / total, np.where(vec[:, 4] > 0, 50.0, np.nan)
        )
    w_a, w_s, w_g = weights
    pes = w_a * adoption + w_s * stick + w_g * growth  # NaN propagates: PES undefined
    return {"pes": pes, "adoption": adoption, "stickiness": stick, "growth": growth}


def _interval(values: F64) -> tuple[float | None, float | None]:
    ok = values[~np.isnan(values)]
    if not len(ok):
        return None, None
    low, high = np.percentile(ok, [2.5, 97.5])
    return float(low), float(high)


def compare(
    cube: Cube,
    configs: Sequence[Config],
    params: PesParams,
    entity: str,
    *,
    baseline: str,
    resamples: int = 1000,
    seed: int = 0,
    fleet: Mapping[str, set[str]] | None = None,
    buckets: int | None = BUCKETS,
) -> list[dict[str, Any]]:
    """One row per configuration and metric: value, 95% CI, delta to the baseline and its CI.
    `buckets`: resample that many buckets of entities when there are more entities than
    that; None resamples single entities whatever their number (the exact bootstrap)."""
    if baseline not in {c.name for c in configs}:
        raise ValueError(f"baseline {baseline!r} is not one of the configurations")
    stats = [
        period_stats(cube, members(cube, (), entity, config_mask(cube, c)), params, fleet)
        for c in configs
    ]
    # Only entities that contribute to some component are drawn: an inert one would only make
    # the number of effective draws random.
    live = [np.flatnonzero(st.active | st.in_prev | st.den.any(axis=1)) for st in stats]
    codes = [st.mem.entity_codes[rows] for st, rows in zip(stats, live, strict=True)]
    union = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    unit_of, units = _units(len(union), buckets, rng)
    parts = [
        _parts(st, rows, unit_of[np.searchsorted(union, c)], units)
        for st, rows, c in zip(stats, live, codes, strict=True)
    ]
    draws: list[list[dict[str, F64]]] = [[] for _ in configs]
    done = 0
    # One BLAS thread: these products take milliseconds, and on a busy 2-core machine
    # OpenBLAS's threads spin waiting for each other (8x slower measured, docs/performance.md).
    with threadpool_limits(limits=1, user_api="blas"):
        while done < resamples and units:
            k = min(_CHUNK, resamples - done)
            picks = rng.integers(0, units, size=(k, units), dtype=np.int32)
            w = np.empty((k, units), np.float32)
            for i in range(k):  # row by row: bincount of one resample's draws
                w[i] = np.bincount(picks[i], minlength=units)
            for c, p in enumerate(parts):
                draws[c].append(_metrics(p, w, params.weights))
            done += k
    base = next(i for i, c in enumerate(configs) if c.name == baseline)
    sampled = [
        {m: np.concatenate([d[m] for d in ds]) if ds else np.zeros(0) for m in METRICS}
        for ds in draws
    ]
    # Point values from the engine's own rows, in float64: exactly what /v1/pes says for the
    # same configuration (the bootstrap's float32 products are for the intervals only).
    point = [_point(stats[c]) for c in range(len(configs))]
    out: list[dict[str, Any]] = []
    delta_draws: list[F64 | None] = []
    for c, config in enumerate(configs):
        row = aggregate(stats[c])
        active = row[0].active if row else 0
        for m in METRICS:
            value = point[c][m]
            low, high = _interval(sampled[c][m])
            d_low = d_high = delta = None
            if c != base:
                base_value = point[base][m]
                if value is not None and base_value is not None:
                    delta = value - base_value
                diffs = sampled[c][m] - sampled[base][m]
                d_low, d_high = _interval(diffs)
            delta_draws.append(None if c == base else diffs)
            out.append(
                {
                    "config": config.name,
                    "definition": config.definition,
                    "metric": m,
                    "value": value,
                    "ci_low": low,
                    "ci_high": high,
                    "delta": delta,
                    "delta_low": d_low,
                    "delta_high": d_high,
                    # The delta's interval excludes 0: unlikely to be resampling noise.
                    "significant": None
                    if d_low is None or d_high is None
                    else bool(d_low > 0 or d_high < 0),
                    "active": active,
                    "entities": len(stats[c].mem.entity),
                    "low_sample": active < params.low_sample_threshold,
                }
            )
    _holm(out, delta_draws)
    return out


def _units(
    n: int, buckets: int | None, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], int]:
    """The resampled unit of each of n entities, and the number of units. Up to `buckets`
    entities each is its own unit (the exact bootstrap, and no draw from rng, so its results
    are those of the unbucketed version); beyond, a seeded random permutation deals the
    entities into `buckets` buckets whose sizes differ by at most one. Membership is random,
    not by id ranges: ids can follow registration order, which can follow engagement."""
    if buckets is None or n <= buckets:
        return np.arange(n, dtype=np.int64), n
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    position = rng.permutation(n)
    return position * buckets // n, buckets


def _point(st: PeriodStats) -> dict[str, float | None]:
    rows = aggregate(st)
    if not rows:  # nobody active in P or P': no value, not a growth of 50
        return dict.fromkeys(METRICS)
    r = rows[0]
    return {"pes": r.pes, "adoption": r.adoption, "stickiness": r.stickiness, "growth": r.growth}


def _holm(rows: list[dict[str, Any]], delta_draws: Sequence[F64 | None]) -> None:
    """`significant_holm`: `significant` and still rejected by Holm's step-down procedure over
    every delta of this answer that has an interval (family-wise 5%), with each delta's
    two-sided bootstrap p-value from the same draws (releases_stats.bootstrap_p). Up to 24
    deltas are shown at once; uncorrected, about one in twenty would look significant by chance.
    """
    family = [
        i
        for i, r in enumerate(rows)
        if r["significant"] is not None and (d := delta_draws[i]) is not None and len(d)
    ]
    p_values = []
    for i in family:
        draws = delta_draws[i]
        assert draws is not None
        p_values.append(bootstrap_p(draws[~np.isnan(draws)]))
    rejected = dict(zip(family, holm(p_values), strict=True))
    for i, r in enumerate(rows):
        r["significant_holm"] = (
            None if r["significant"] is None else bool(r["significant"] and rejected.get(i))
        )
