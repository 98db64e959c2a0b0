"""The one PES engine and the analyses built on it (compare, trend, overview, health, funnel):
pure functions, no I/O.

`state` keeps an in-memory copy of the stores' day bitmaps (storage/bitmaps.py rows) and hands
out immutable snapshots; `cube` turns a snapshot's day range into numpy arrays and computes
per-member period statistics and the PES rows of specs/pes.md; the other modules slice the same
arrays. `segments` keeps, per grouping, the members and per-segment day counts between
requests, from which `pes_table` answers the PES table and trend with per-segment sums (the
same rows as cube's per-member path). `params` holds the contract's parameters and result row.
collector.reports loads the rows once per request and calls these.
"""

from collector.analytics.compare import MAX_CONFIGS, Config, compare, parse_config
from collector.analytics.health import HealthParams
from collector.analytics.params import (
    DEFAULT_CORE_KEY,
    STICKINESS_MODES,
    PesParams,
    PesResult,
    Segment,
    StickinessMode,
)
from collector.analytics.state import Cube, CubeState, Snapshot

__all__ = [
    "DEFAULT_CORE_KEY",
    "MAX_CONFIGS",
    "STICKINESS_MODES",
    "Config",
    "Cube",
    "CubeState",
    "HealthParams",
    "PesParams",
    "PesResult",
    "Segment",
    "Snapshot",
    "StickinessMode",
    "compare",
    "parse_config",
]
