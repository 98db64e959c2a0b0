"""Keeping the buffer's files within their size limit (agent/budget.py says how it is split):
making room for new events, refusing them, and giving space back; and the free space left on
the buffer's file system (the disk headroom guard's reading and its log lines). Functions on
the buffer's connection; the callers hold its lock and, where noted, an open transaction."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from agent import drops as D
from agent.budget import Budget, row_bytes
from agent.errors import BufferFull
from agent.sqlbits import bump, one, pages, transaction

log = logging.getLogger(__name__)


def apply(conn: sqlite3.Connection, b: Budget, wal: str, full: str) -> None:
    """At open: checkpoint and journal settings, then fit the file into the limit."""
    if one(conn, "PRAGMA auto_vacuum")[0] != 2:
        # A file made by an older agent: convert once (VACUUM rewrites it).
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    conn.execute(f"PRAGMA wal_autocheckpoint={b.checkpoint_frames}")
    conn.execute(f"PRAGMA journal_size_limit={b.journal_limit}")
    # A limit lowered since the file grew: drop the oldest events until they fit, then give
    # the pages back before SQLite is told never to grow past the limit again.
    with transaction(conn):
        make_room(conn, b, 0, full)
    while pages(conn)[0] > b.data_pages and vacuum_once(conn, b, force=True):
        pass
    conn.execute(f"PRAGMA max_page_count={b.data_pages}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def make_room(conn: sqlite3.Connection, b: Budget, need: int, full: str) -> int:
    """(In a transaction.) Delete the oldest events until `need` more pages fit, recording
    them as drop ranges; return how many went. BufferFull if even an empty buffer is short."""
    total = 0
    while True:
        count, free = pages(conn)
        over = count - free + need - b.data_pages
        if over <= 0:
            return total
        target = (over + 1) * b.page_size
        freed, seqs = 0, []
        cur = conn.execute(
            "SELECT seq, length(id) + length(CAST(body AS BLOB)) FROM events ORDER BY seq"
        )
        try:
            for seq, n in cur:
                seqs.append(int(seq))
                freed += int(n)
                if freed >= target:
                    break
        finally:
            cur.close()
        if not seqs:
            raise BufferFull(full)
        conn.execute("DELETE FROM events WHERE seq <= ?", (seqs[-1],))
        D.record(conn, D.runs(seqs), D.OVERFLOW)
        bump(conn, "dropped_total", len(seqs))
        total += len(seqs)


def fitting(
    conn: sqlite3.Connection, b: Budget, rows: Sequence[tuple[str, str]], margin: int
) -> int:
    """(In a transaction.) How many of `rows`, from the first, fit without dropping any."""
    count, free = pages(conn)
    room = b.data_pages - (count - free)
    nbytes = 0
    for k, (i, body) in enumerate(rows):
        nbytes += row_bytes(i, body)
        if b.pages_for(nbytes, k + 1) * margin > room:
            return k
    return len(rows)


def after_write(conn: sqlite3.Connection, b: Budget, wal: str) -> None:
    """A TRUNCATE checkpoint if the WAL outgrew its share (a reader held it back)."""
    try:
        size = os.stat(wal).st_size
    except FileNotFoundError:
        return
    if size > b.force_checkpoint_bytes:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def vacuum_once(conn: sqlite3.Connection, b: Budget, *, force: bool = False) -> bool:
    """Return free pages to the file system, one bounded step, once at least half the file is
    free (before that, inserts reuse them: moving live pages would cost more)."""
    count, free = pages(conn)
    if free == 0 or (not force and (free < 16 or free * 2 < count)):
        return False
    # Each step moves at most as many live pages as there are (each a WAL frame): with few
    # left, as after a drain, everything is returned at once.
    step = free if count - free <= b.vacuum_step_pages else b.vacuum_step_pages
    # executescript steps the pragma to completion; execute() frees only one page.
    conn.executescript(f"PRAGMA incremental_vacuum({int(step)});")
    # The file shrinks when the checkpoint copies the truncation into it.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return True


def free_bytes(directory: Path) -> int | None:
    """Bytes free for us on the file system of `directory` (None if it cannot be read)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def log_disk_episode(low: bool, free: int, min_free_bytes: int, overflow: str) -> None:
    """Once when a low-disk episode starts, once when it ends (the disk headroom guard)."""
    if low:
        log.warning("buffer file system below min_free_mb (%g MiB free of %g wanted): "
                    "the buffer stops growing, overflow=%s applies",
                    free / 1048576, min_free_bytes / 1048576, overflow)  # fmt: skip
    else:
        log.warning("buffer file system has %g MiB free again: the buffer may grow",
                    free / 1048576)  # fmt: skip
