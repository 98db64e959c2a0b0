"""Bitmap rows as the stores now return them: packed by SQL into one string (SQLite, hex) or
one bytea (PostgreSQL, big-endian), unpacked into an int64 array. Checked against rows
packed by hand, including bit 63 (a negative word) and the largest ids."""

from __future__ import annotations

import sqlite3
import struct

import numpy as np
import pytest

from collector.storage.bitmaps import rows_from_bytes, rows_from_hex

ROWS = [(1, 11_540, -(1 << 63)), (2**31 - 1, 0, -1), (7, 11_541, (1 << 63) - 1), (3, 5, 0b1011)]


def test_hex_rows_as_sqlite_packs_them() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (combo INTEGER, block INTEGER, bits INTEGER, n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(*r, k) for k, r in enumerate(ROWS)])
    (text,) = con.execute(
        "SELECT group_concat(printf('%016x%016x%016x', combo, block, bits), '') "
        "FROM (SELECT * FROM t ORDER BY n)"
    ).fetchone()
    got = rows_from_hex(text, 3)
    assert got.dtype == np.int64 and got.shape == (4, 3)
    assert got.tolist() == [list(r) for r in ROWS]
    assert rows_from_hex(None, 4).shape == (0, 4)  # no changed row: group_concat is NULL


def test_bytes_rows_as_postgresql_packs_them() -> None:
    data = b"".join(struct.pack(">qqq", *r) for r in ROWS)
    assert rows_from_bytes(data, 3).tolist() == [list(r) for r in ROWS]
    assert rows_from_bytes(None, 3).shape == (0, 3)
    with pytest.raises(ValueError, match="rows of 4 values"):
        rows_from_bytes(data[:72], 4)  # 72 bytes are not rows of 32
