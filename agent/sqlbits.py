"""Small SQLite helpers the buffer's modules share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from typing import Any

from agent.budget import text_bytes

# Multi-row statements (the statement cache keeps each prepared): 128, 32 and 8 rows, and one
# per size below 8 for the rest.
_INSERT_SQL = {n: "INSERT INTO events(id, body) VALUES" + ",".join(["(?,?)"] * n)
               for n in (128, 32, 8, 7, 6, 5, 4, 3, 2, 1)}  # fmt: skip
_CHUNKS = (128, 32, 8)


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


def insert_events(conn: sqlite3.Connection, rows: Sequence[tuple[str, str]]) -> int:
    """INSERT (id, body) rows into events, in order, seq by AUTOINCREMENT; return the seq of
    the last (0 if none). Within one transaction the rows' seqs are consecutive.

    Many rows per statement: executemany() steps once per row, and each step gives up the GIL
    and waits to get it back (from a busy event loop); one statement of 128 rows steps once.
    Half the CPU per row of executemany, and about half the time (docs/performance.md)."""
    k, n, last = 0, len(rows), 0
    for size in _CHUNKS:
        while n - k >= size:
            cur = conn.execute(_INSERT_SQL[size], list(chain.from_iterable(rows[k : k + size])))
            last, k = cur.lastrowid or 0, k + size
    if k < n:
        cur = conn.execute(_INSERT_SQL[n - k], list(chain.from_iterable(rows[k:])))
        last = cur.lastrowid or 0
    return last


FETCH_CHUNK = 256
_TEXT = itemgetter(1)


def fetch_within(cur: sqlite3.Cursor, max_bytes: int, overhead: int) -> list[Any]:
    """The (key, text) rows of `cur`, in order, while their texts' UTF-8 bytes plus `overhead`
    each fit in `max_bytes`, but at least one. Whole chunks are sized in C loops while they
    fit, row by row only where the budget runs out: a drain reads every event through here."""
    out: list[Any] = []
    used = 0
    while chunk := cur.fetchmany(FETCH_CHUNK):
        n = text_bytes(list(map(_TEXT, chunk))) + overhead * len(chunk)
        if used + n <= max_bytes:
            out += chunk
            used += n
            continue
        for row in chunk:
            used += len(row[1].encode()) + overhead
            if out and used > max_bytes:
                break
            out.append(row)
        break
    return out
