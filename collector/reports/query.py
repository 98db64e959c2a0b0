"""A report's query: its parameters parsed and checked once (period, group-by, entity, stickiness,
filters, weights), and the shape of a PES result row. Shared by the API, the CLI and the jobs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, get_args

from collector.analytics.params import PesParams, PesResult, StickinessMode
from collector.errors import QueryError
from collector.settings import PesSettings
from collector.storage import Entity

# str -> the Literal it names: how a checked string becomes a typed mode without a cast.
_ENTITIES: dict[str, Entity] = {e: e for e in get_args(Entity)}
_MODES: dict[str, StickinessMode] = {m: m for m in get_args(StickinessMode)}
DEFAULT_GROUP_BY = ("device_type", "firmware_version")
_LABEL = re.compile(r"^label:[A-Za-z0-9_.\-]{1,32}$")
_ATTR_INDEX = {"device_type": 1, "firmware_version": 2}
MAX_GROUP_BY = 5
MAX_PERIOD_DAYS = 3660
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


@dataclass(frozen=True, slots=True)
class PesQuery:
    start: date
    end: date
    group_by: tuple[str, ...]
    entity: Entity = "device"
    stickiness: StickinessMode = "dau_mau"
    # Equality filters on rollup columns (store.FILTER_COLUMNS), sorted; () = whole fleet.
    filters: tuple[tuple[str, str], ...] = ()
    weights: tuple[float, float, float] | None = None  # None: the configured weights

    def params(self, settings: PesSettings) -> PesParams:
        try:
            return PesParams(
                start=self.start,
                end=self.end,
                stickiness=self.stickiness,
                weights=self.weights or settings.weights,
                core_features=settings.core_features,
                low_sample_threshold=settings.low_sample_threshold,
            )
        except ValueError as exc:
            raise QueryError(str(exc)) from exc


def parse_weights(text: str | None) -> tuple[float, float, float] | None:
    """`0.5,0.25,0.25` (adoption, stickiness, growth) -> a tuple; checked by PesParams."""
    if text is None or not text.strip():
        return None
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise QueryError("weights must be three numbers: adoption,stickiness,growth") from exc
    if len(parts) != 3:
        raise QueryError("weights must be three numbers: adoption,stickiness,growth")
    return parts[0], parts[1], parts[2]


def parse_group_by(text: str | None) -> tuple[str, ...]:
    """`device_type,label:site` -> ('device_type', 'label:site'); '' -> () (the whole fleet)."""
    if text is None:
        return DEFAULT_GROUP_BY
    attrs = tuple(a.strip() for a in text.split(",") if a.strip())
    if len(attrs) > MAX_GROUP_BY:
        raise QueryError(f"group_by takes at most {MAX_GROUP_BY} attributes")
    for a in attrs:
        if a not in _ATTR_INDEX and not _LABEL.match(a):
            raise QueryError(
                f"unknown group_by attribute {a[:40]!r}: use device_type, firmware_version "
                "or label:<key>"
            )
    if len(set(attrs)) != len(attrs):
        raise QueryError("group_by repeats an attribute")
    return attrs


def make_query(
    settings: PesSettings,
    *,
    start: date | None,
    end: date | None,
    group_by: str | None,
    entity: str = "device",
    stickiness: str = "dau_mau",
    today: date | None = None,
    filters: Mapping[str, str | None] | None = None,
    weights: str | None = None,
) -> PesQuery:
    """Defaults from pes.md: end = today (collector time zone), start = end - 29."""
    ent = _ENTITIES.get(entity)
    if ent is None:
        raise QueryError("entity must be device or account")
    mode = _MODES.get(stickiness)
    if mode is None:
        raise QueryError("stickiness must be dau_mau, dau_wau or wau_mau")
    end = end or today or datetime.now(settings.tz).date()
    if not EARLIEST <= end <= LATEST:
        raise QueryError(f"dates must lie between {EARLIEST} and {LATEST}")
    start = start or end - timedelta(days=29)
    if start > end:
        raise QueryError("start must not be after end")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise QueryError(f"a period is at most {MAX_PERIOD_DAYS} days")
    if start < EARLIEST or end > LATEST:
        # Periods reach back (P', 30-day windows) and trends forward: keep the date arithmetic
        # far from date.min/date.max instead of failing with an overflow.
        raise QueryError(f"dates must lie between {EARLIEST} and {LATEST}")
    given = tuple(sorted((k, v) for k, v in (filters or {}).items() if v is not None))
    q = PesQuery(start, end, parse_group_by(group_by), ent, mode, given, parse_weights(weights))
    q.params(settings)  # reject bad weights now, with the request's own message
    return q


def result_row(group_by: tuple[str, ...], r: PesResult) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(group_by, r.segment, strict=True))
    row.update(
        active=r.active,
        adoption=r.adoption,
        stickiness=r.stickiness,
        growth=r.growth,
        pes=r.pes,
        new=r.new,
        recovered=r.recovered,
        dropped=r.dropped,
        quick_ratio=r.quick_ratio,
        dau=r.dau,
        wau=r.wau,
        mau=r.mau,
        low_sample=r.low_sample,
        core_features=r.core_features,
        feature_adoption=r.feature_adoption,
    )
    return row
