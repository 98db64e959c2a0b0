"""Small SQLite helpers the buffer's modules share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def one(conn: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> Any:
    """The first row (or None), and the statement reset at once: a statement left unfinished
    keeps a read snapshot open, and with it the WAL from being checkpointed and reset."""
    cur = conn.execute(sql, args)
    try:
        return cur.fetchone()
    finally:
        cur.close()


def pages(conn: sqlite3.Connection) -> tuple[int, int]:
    """(page_count, freelist_count), as this connection sees them (inside its transaction)."""
    count = one(conn, "PRAGMA page_count")[0]
    free = one(conn, "PRAGMA freelist_count")[0]
    return int(count), int(free)


def bump(conn: sqlite3.Connection, key: str, n: int) -> None:
    """Add n to an integer kept in the meta table."""
    if n:
        conn.execute(
            "INSERT INTO meta VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = CAST(CAST(value AS INTEGER) + ? AS TEXT)",
            (key, str(n), n),
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a writer
    # never fails halfway through trying to upgrade a read lock held since its first SELECT.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            conn.execute("ROLLBACK")
        raise
