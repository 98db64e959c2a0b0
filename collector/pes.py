"""Product Engagement Score: a pure function of daily activity rollups (contract: specs/pes.md).

No I/O here. The collector turns its stored, deduplicated events into `ActivityRow` and
`FeatureRow` values (one per entity, segment and day; the day already in the configured time
zone) and calls `compute_pes`. Repeated rows are treated as sets.

Cost: one pass over the rows, then per segment one sort of each entity's recent active days and
one difference array per window width; no per-day rescans of the windows.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args

StickinessMode = Literal["dau_mau", "dau_wau", "wau_mau"]
Segment = tuple[str | None, ...]  # group_by attribute values, in group_by order; () = whole fleet

STICKINESS_MODES: tuple[str, ...] = get_args(StickinessMode)
DEFAULT_CORE_KEY = "*"
WAU_DAYS = 7
MAU_DAYS = 30
WEIGHT_TOLERANCE = 1e-9

# (numerator window, denominator window) in days; a one-day window is DAU.
_MODE_WINDOWS: dict[str, tuple[int, int]] = {
    "dau_mau": (1, MAU_DAYS),
    "dau_wau": (1, WAU_DAYS),
    "wau_mau": (WAU_DAYS, MAU_DAYS),
}


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One entity active in one segment on one day."""

    entity: str
    segment: Segment
    device_type: str  # device type of the activity events behind this row
    day: date


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """An entity used a feature (feature_use events) in a segment on a day."""

    entity: str
    segment: Segment
    device_type: str
    day: date
    feature: str
    uses: int


@dataclass(frozen=True, slots=True)
class PesParams:
    start: date
    end: date
    stickiness: StickinessMode = "dau_mau"
    weights: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # adoption, stickiness, growth
    # device_type -> core feature list; key "*" = default for types without their own list
    core_features: Mapping[str, Sequence[str]] = field(default_factory=dict)
    low_sample_threshold: int = 30

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"PES period start {self.start} is after end {self.end}")
        if self.stickiness not in STICKINESS_MODES:
            raise ValueError(
                f"unknown stickiness mode {self.stickiness!r}; expected one of {STICKINESS_MODES}"
            )
        if len(self.weights) != 3:
            raise ValueError(f"PES weights must be 3 numbers, got {len(self.weights)}")
        if any(not math.isfinite(w) or w < 0 for w in self.weights):
            raise ValueError(f"PES weights must be finite and non-negative, got {self.weights}")
        total = math.fsum(self.weights)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"PES weights must sum to 1, got {self.weights} (sum {total!r})")
        for device_type, names in self.core_features.items():
            if isinstance(names, str):
                raise ValueError(
                    f"core_features[{device_type!r}] must be a list of names, not a string"
                )
        if self.low_sample_threshold < 0:
            raise ValueError("low_sample_threshold must be non-negative")

    @property
    def length(self) -> int:
        """L: the period's length in whole days, both ends included."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True, slots=True)
class PesResult:
    segment: Segment
    active: int
    adoption: float | None
    stickiness: float | None
    growth: float
    pes: float | None
    new: int
    recovered: int
    dropped: int
    quick_ratio: float | None
    dau: int  # on `end`
    wau: int
    mau: int
    core_features: dict[str, list[str]]  # device_type -> core set used for this row (sorted)
    feature_adoption: dict[str, float]  # core feature -> share (0..1) of active(P) that used it
    low_sample: bool


class _Entity:
    """What one segment knows about one entity."""

    __slots__ = ("days", "first", "types", "used")

    def __init__(self, first: int) -> None:
        self.first = first  # first active day, over all history
        self.days: set[int] = set()  # active days in [lo, end] (P', P and the MAU windows)
        self.types: set[str] = set()  # device types of its activity in P
        self.used: set[str] = set()  # features it used in P


_Entities = dict[str, _Entity]


def _note_activity(
    segment: _Entities, entity: str, device_type: str, day: int, lo: int, start: int
) -> _Entity:
    ent = segment.get(entity)
    if ent is None:
        ent = segment[entity] = _Entity(day)
    elif day < ent.first:
        ent.first = day
    if day >= lo:
        ent.days.add(day)
        if day >= start:
            ent.types.add(device_type)
    return ent


def window_counts(day_lists: Iterable[Sequence[int]], lo: int, hi: int, width: int) -> list[int]:
    """For each day d in [lo, hi]: how many entities were active on some day of [d-width+1, d].

    `day_lists` holds one ascending list of active day ordinals per entity. Each active day a
    covers [a, a+width-1]; overlapping covers of one entity are merged so it counts once a day.
    """
    diff = [0] * (hi - lo + 2)
    for days in day_lists:
        run_start = run_end = -1
        for a in days:
            s = a if a > lo else lo
            e = a + width - 1
            if e > hi:
                e = hi
            if s > e:
                continue
            if run_end >= 0 and s <= run_end + 1:
                if e > run_end:
                    run_end = e
                continue
            if run_end >= 0:
                diff[run_start - lo] += 1
                diff[run_end - lo + 1] -= 1
            run_start, run_end = s, e
        if run_end >= 0:
            diff[run_start - lo] += 1
            diff[run_end - lo + 1] -= 1
    counts: list[int] = []
    running = 0
    for delta in diff[:-1]:
        running += delta
        counts.append(running)
    return counts


def _stickiness(day_lists: list[list[int]], params: PesParams) -> float | None:
    num_width, den_width = _MODE_WINDOWS[params.stickiness]
    lo, hi = params.start.toordinal(), params.end.toordinal()
    numerators = window_counts(day_lists, lo, hi, num_width)
    denominators = window_counts(day_lists, lo, hi, den_width)
    ratios = [n / d for n, d in zip(numerators, denominators, strict=True) if d]
    if not ratios:
        return None
    return 100.0 * math.fsum(ratios) / len(ratios)


class _CoreSets:
    """Core set per device type, and the union C_e per combination of device types."""

    def __init__(self, params: PesParams, fleet_features: dict[str, set[str]]) -> None:
        self._configured = params.core_features
        self._fleet = fleet_features
        self._by_type: dict[str, frozenset[str]] = {}
        self._by_combo: dict[frozenset[str], frozenset[str]] = {}

    def for_type(self, device_type: str) -> frozenset[str]:
        core = self._by_type.get(device_type)
        if core is None:
            names = self._configured.get(device_type)
            if names is None:
                names = self._configured.get(DEFAULT_CORE_KEY)
            if names is None:
                core = frozenset(self._fleet.get(device_type, ()))
            else:
                core = frozenset(names)
            self._by_type[device_type] = core
        return core

    def for_types(self, device_types: frozenset[str]) -> frozenset[str]:
        core = self._by_combo.get(device_types)
        if core is None:
            core = frozenset().union(*(self.for_type(t) for t in device_types))
            self._by_combo[device_types] = core
        return core


def _segment_result(
    segment: Segment, entities: _Entities, params: PesParams, cores: _CoreSets
) -> PesResult | None:
    start, end, length = params.start.toordinal(), params.end.toordinal(), params.length
    prev_start = start - length
    day_lists: list[list[int]] = []
    active_p: list[_Entity] = []
    new = recovered = dropped = dau = wau = mau = 0
    for ent in entities.values():
        if not ent.days:
            continue
        days = sorted(ent.days)
        last = days[-1]
        i = bisect_left(days, prev_start)
        in_prev = i < len(days) and days[i] < start
        if last >= start:
            active_p.append(ent)
            if ent.first >= start:
                new += 1
            elif not in_prev and ent.first < prev_start:
                recovered += 1
        elif in_prev:
            dropped += 1
        if last >= start - MAU_DAYS + 1:
            day_lists.append(days)
            dau += last == end
            wau += last > end - WAU_DAYS
            mau += last > end - MAU_DAYS
    if not active_p and not dropped:
        return None

    adoption_sum = 0.0
    adoption_n = 0
    row_types: set[str] = set()
    row_core: set[str] = set()
    feature_users: Counter[str] = Counter()
    for ent in active_p:
        types = frozenset(ent.types)
        row_types |= types
        core = cores.for_types(types)
        row_core |= core
        feature_users.update(ent.used)
        if core:
            adoption_sum += len(core & ent.used) / len(core)
            adoption_n += 1
    active = len(active_p)
    adoption = 100.0 * adoption_sum / adoption_n if adoption_n else None
    stickiness = _stickiness(day_lists, params)
    moved = new + recovered
    growth = 100.0 * moved / (moved + dropped) if moved + dropped else 50.0
    pes: float | None = None
    if adoption is not None and stickiness is not None:
        w_a, w_s, w_g = params.weights
        pes = w_a * adoption + w_s * stickiness + w_g * growth
    return PesResult(
        segment=segment,
        active=active,
        adoption=adoption,
        stickiness=stickiness,
        growth=growth,
        pes=pes,
        new=new,
        recovered=recovered,
        dropped=dropped,
        quick_ratio=moved / dropped if dropped else None,
        dau=dau,
        wau=wau,
        mau=mau,
        core_features={t: sorted(cores.for_type(t)) for t in sorted(row_types)},
        feature_adoption={f: feature_users[f] / active for f in sorted(row_core)},
        low_sample=active < params.low_sample_threshold,
    )


def segment_sort_key(segment: Segment) -> tuple[tuple[bool, str], ...]:
    """Order segments by their values, a None value after every string."""
    return tuple((value is None, value or "") for value in segment)


def compute_pes(
    activity: Iterable[ActivityRow], features: Iterable[FeatureRow], params: PesParams
) -> list[PesResult]:
    """One PesResult per segment with an entity active in P or in P', sorted by segment.

    `activity` may hold all stored history (needed for first(e), the 30-day windows and P');
    rows after `end` are ignored. A FeatureRow also counts as activity (feature_use is an
    activity kind); one with `uses` below 1 is ignored. Values are not rounded.
    """
    start, end = params.start.toordinal(), params.end.toordinal()
    # Oldest day still needed for more than first(e): P' and the MAU window of `start`.
    lo = min(start - params.length, start - MAU_DAYS + 1)
    segments: dict[Segment, _Entities] = {}
    for row in activity:
        day = row.day.toordinal()
        if day > end:
            continue
        seg = segments.get(row.segment)
        if seg is None:
            seg = segments[row.segment] = {}
        # The body of _note_activity, inlined: this loop sees every stored row.
        ent = seg.get(row.entity)
        if ent is None:
            ent = seg[row.entity] = _Entity(day)
        elif day < ent.first:
            ent.first = day
        if day >= lo:
            ent.days.add(day)
            if day >= start:
                ent.types.add(row.device_type)

    fleet_features: dict[str, set[str]] = {}
    for frow in features:
        day = frow.day.toordinal()
        if day > end or frow.uses < 1:
            continue
        seg = segments.get(frow.segment)
        if seg is None:
            seg = segments[frow.segment] = {}
        ent = _note_activity(seg, frow.entity, frow.device_type, day, lo, start)
        if day >= start:
            ent.used.add(frow.feature)
            fleet = fleet_features.get(frow.device_type)
            if fleet is None:
                fleet_features[frow.device_type] = {frow.feature}
            else:
                fleet.add(frow.feature)

    cores = _CoreSets(params, fleet_features)
    results = [
        result
        for segment, entities in segments.items()
        if (result := _segment_result(segment, entities, params, cores)) is not None
    ]
    results.sort(key=lambda r: segment_sort_key(r.segment))
    return results
