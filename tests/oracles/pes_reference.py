"""The reference PES engine: a straightforward implementation of specs/pes.md over per-day
activity and feature rows, kept as a test oracle. The product computes the PES once, in
collector/analytics (bitmaps and numpy); the randomized tests check that engine against this
one, and this one against hand-computed cases and the spec's worked example.

Pure: callers turn stored events into `ActivityRow` and `FeatureRow` values (one per entity,
segment and day; the day already in the configured time zone). Repeated rows are treated as sets.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from collector.analytics.params import (
    DEFAULT_CORE_KEY,
    MAU_DAYS,
    MODE_WINDOWS,
    WAU_DAYS,
    PesParams,
    PesResult,
    Segment,
    segment_sort_key,
)

__all__ = ["ActivityRow", "FeatureRow", "Segmenter", "compute_pes", "window_counts"]


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
    num_width, den_width = MODE_WINDOWS[params.stickiness]
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
    feature_eligible: Counter[str] = Counter()
    for ent in active_p:
        types = frozenset(ent.types)
        row_types |= types
        core = cores.for_types(types)
        row_core |= core
        feature_users.update(core & ent.used)
        feature_eligible.update(core)
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
        feature_adoption={f: feature_users[f] / feature_eligible[f] for f in sorted(row_core)},
        low_sample=active < params.low_sample_threshold,
    )


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


class Segmenter:
    """Maps a rollup row's attributes (device type, firmware, labels JSON) to a segment of
    `group_by`; label JSON is parsed once per value."""

    def __init__(self, group_by: tuple[str, ...]) -> None:
        self.group_by = group_by
        self._labels: dict[str, dict[str, str]] = {}

    def __call__(self, device_type: str, firmware: str, labels: str) -> tuple[str | None, ...]:
        out: list[str | None] = []
        for a in self.group_by:
            if a == "device_type":
                out.append(device_type)
            elif a == "firmware_version":
                out.append(firmware)
            else:
                parsed = self._labels.get(labels)
                if parsed is None:
                    parsed = self._labels[labels] = json.loads(labels)
                out.append(parsed.get(a[6:]))
        return tuple(out)
