"""Drop ranges: sequence numbers the agent deleted without an ack (buffer overflow), kept in the
buffer's `drops` table until a collector has acked a batch that reported them.

Pure range helpers plus the few statements the buffer runs inside its own transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import NamedTuple

OVERFLOW = "overflow"


class Drop(NamedTuple):
    first: int
    last: int
    reason: str

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted seqs as inclusive runs of consecutive numbers: [1,2,3,7,8] -> [(1,3),(7,8)]."""
    out: list[tuple[int, int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def subtract(drop: Drop, first: int, last: int) -> list[Drop]:
    """What is left of `drop` outside first..last."""
    if last < drop.first or first > drop.last:
        return [drop]
    left = [Drop(drop.first, first - 1, drop.reason)] if first > drop.first else []
    right = [Drop(last + 1, drop.last, drop.reason)] if last < drop.last else []
    return left + right


def record(conn: sqlite3.Connection, ranges: Iterable[tuple[int, int]], reason: str) -> None:
    """Add dropped ranges, extending the newest pending range when they are adjacent (drops of
    the oldest events during one outage stay one range however many commits made them)."""
    for first, last in ranges:
        rows = conn.execute(
            "SELECT first, last, reason FROM drops ORDER BY first DESC LIMIT 1"
        ).fetchall()
        row = rows[0] if rows else None
        if row is not None and row[1] + 1 == first and row[2] == reason:
            conn.execute("UPDATE drops SET last = ? WHERE first = ?", (last, row[0]))
        else:
            conn.execute("INSERT INTO drops VALUES(?, ?, ?)", (first, last, reason))


def clear(conn: sqlite3.Connection, reported: Iterable[Drop]) -> None:
    """Forget what an acked batch reported. A pending range that grew after it was reported
    keeps its new part, which the next batches report."""
    for rep in reported:
        rows = conn.execute(
            "SELECT first, last, reason FROM drops WHERE first <= ? AND last >= ? AND reason = ?",
            (rep.last, rep.first, rep.reason),
        ).fetchall()
        for row in rows:
            conn.execute("DELETE FROM drops WHERE first = ?", (row[0],))
            for rest in subtract(Drop(*row), rep.first, rep.last):
                conn.execute("INSERT INTO drops VALUES(?, ?, ?)", rest)


def pending(conn: sqlite3.Connection, limit: int) -> list[Drop]:
    rows = conn.execute(
        "SELECT first, last, reason FROM drops ORDER BY first LIMIT ?", (limit,)
    ).fetchall()
    return [Drop(int(a), int(b), str(r)) for a, b, r in rows]
