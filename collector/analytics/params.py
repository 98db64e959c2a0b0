"""The PES contract's parameters and result row (specs/pes.md), shared by every analysis.

`PesParams` is validated on construction (a bad period, weights or stickiness mode raises
ValueError, which the reports turn into a QueryError); `PesResult` is one segment's row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
MODE_WINDOWS: dict[str, tuple[int, int]] = {
    "dau_mau": (1, MAU_DAYS),
    "dau_wau": (1, WAU_DAYS),
    "wau_mau": (WAU_DAYS, MAU_DAYS),
}


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
    # core feature f -> share (0..1) of the entities active in P whose core set holds f that
    # used f in P (docs/analytics.md)
    feature_adoption: dict[str, float]
    low_sample: bool


def segment_sort_key(segment: Segment) -> tuple[tuple[bool, str], ...]:
    """Order segments by their values, a None value after every string."""
    return tuple((value is None, value or "") for value in segment)
