"""Row shapes of the analytics bitmap rollups (migration 2 of both stores), as the stores return
them to the analytics, and the day/block arithmetic.

A day is a Python date ordinal; block = ordinal // 64 and bit = ordinal % 64 of a signed 64-bit
integer (bit 63 makes it negative, which both databases and numpy's uint64 view handle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

BLOCK_DAYS = 64
# (id, device_id, account_id, device_type, firmware_version, labels)
ComboRow = tuple[int, str, str, str, str, str]
FeatureNameRow = tuple[int, str]  # (id, feature)
ActivityBitsRow = tuple[int, int, int]  # (combo, block, bits)
FeatureBitsRow = tuple[int, int, int, int]  # (combo, feature, block, bits)
# (activity version, feature version) already read; see the stores' analytics_changes
Cursor = tuple[int, int]
NO_CURSOR: Cursor = (-1, -1)


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed in the analytics tables since a cursor: bitmap rows carry their full
    current value (not a delta), so applying a row twice is harmless."""

    activity: list[ActivityBitsRow]
    feature_bits: list[FeatureBitsRow]
    cursor: Cursor


def block_of(day: date | int) -> int:
    return (day if isinstance(day, int) else day.toordinal()) // BLOCK_DAYS
