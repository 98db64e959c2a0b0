"""Row shapes of the analytics bitmap rollups (migration 2 of both stores), as the stores return
them to the analytics, and the day/block arithmetic.

A day is a Python date ordinal; block = ordinal // 64 and bit = ordinal % 64 of a signed 64-bit
integer (bit 63 makes it negative, which both databases and numpy's uint64 view handle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

BLOCK_DAYS = 64
# (id, device_id, account_id, device_type, firmware_version, labels)
ComboRow = tuple[int, str, str, str, str, str]
FeatureNameRow = tuple[int, str]  # (id, feature)
ActivityBitsRow = tuple[int, int, int]  # (combo, block, bits)
FeatureBitsRow = tuple[int, int, int, int]  # (combo, feature, block, bits)
# (activity version, feature version) already read; see the stores' analytics_changes
Cursor = tuple[int, int]
NO_CURSOR: Cursor = (-1, -1)
# Rows as one (n, 3) or (n, 4) int64 array: what the stores return, the shape the analytics
# work in (a million Python tuples cost seconds to build; an array from bytes milliseconds).
RowArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed in the analytics tables since a cursor: bitmap rows carry their full
    current value (not a delta), so applying a row twice is harmless."""

    activity: Sequence[ActivityBitsRow] | RowArray
    feature_bits: Sequence[FeatureBitsRow] | RowArray
    cursor: Cursor


def rows_from_hex(text: str | None, columns: int) -> RowArray:
    """Rows packed by SQL as 16 hex digits per value (two's complement), `columns` values a
    row, all rows concatenated (SQLite: group_concat(printf('%016x...'))) -> (n, columns)."""
    return rows_from_bytes(bytes.fromhex(text) if text else None, columns)


def rows_from_bytes(data: bytes | None, columns: int) -> RowArray:
    """Rows packed as big-endian 64-bit integers, `columns` a row -> (n, columns) int64
    (PostgreSQL: string_agg(int8send(...) || ...))."""
    if not data:
        return np.zeros((0, columns), np.int64)
    if len(data) % (8 * columns):
        raise ValueError(f"packed bitmap rows of {len(data)} bytes, not rows of {columns} values")
    return np.frombuffer(data, ">i8").astype(np.int64).reshape(-1, columns)


def block_of(day: date | int) -> int:
    return (day if isinstance(day, int) else day.toordinal()) // BLOCK_DAYS
