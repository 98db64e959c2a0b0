"""The durable local buffer: SQLite in WAL mode, one row per event, deleted only when acked.

Synchronous on purpose: `pes-agent emit` may write with it directly while `pes-agent run` reads
and deletes from another process on the same file (WAL lets readers and one writer work at once;
busy_timeout makes a second writer wait instead of failing). The asyncio side calls it through
asyncio.to_thread, so one lock serialises the connection's transactions across threads.

synchronous=FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and
the contract says an event is durable before the caller hears "stored".

With a size limit (agent/budget.py) every append first makes room: the oldest events are
deleted and their sequence numbers recorded as drop ranges (`drop_oldest`), or the new events
are refused with BufferFull (`reject_new`). Either way the count is kept in `meta`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

from agent import drops as D
from agent import room
from agent.budget import Budget, Capped, rows_bytes
from agent.errors import AgentStopped, BufferCorrupt, BufferFull, BufferUnavailable
from agent.sqlbits import bump, fetch_within, insert_events, one, pages, transaction
from agent.stored import Oldest, init_schema, next_seq, oldest_of

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Bytes an event costs in a batch beyond its stored body: `"seq":N,` and the list comma.
SEQ_OVERHEAD_BYTES = 24
Overflow = Literal["drop_oldest", "reject_new"]
CACHE_KIB = 256  # page cache (SQLite's default: 2 MiB); appends and sequential reads need little


class Appended(NamedTuple):
    first_seq: int  # seq of the first stored row (0 if none)
    stored: int  # rows stored: all of them, or (reject_new) the ones that fit, in order
    dropped: int  # older events deleted to make room


class Buffer:
    """Open with `with Buffer(path) as buf:`; nothing touches the disk before that."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int | None = None,
        overflow: Overflow = "drop_oldest",
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        min_free_bytes: int = 0,
    ) -> None:
        self.path = Path(path)
        # Disk headroom: below this much free space on the buffer's file system the database
        # stops growing (the overflow policy applies as if the buffer were full); 0 = off.
        self.min_free_bytes = min_free_bytes
        self.low_disk = False  # in a low-disk episode (logged once when it starts and ends)
        self.budget = Budget(max_bytes) if max_bytes else None
        self.overflow: Overflow = overflow
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._stream_id: str | None = None
        self._wal = f"{self.path}-wal"

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Buffer:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BufferCorrupt(f"cannot create {self.path.parent}: {exc}") from exc
        try:
            # isolation_level=None: autocommit, transactions are explicit (_transaction).
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise BufferCorrupt(f"cannot open buffer {self.path}: {exc}") from exc
        self._conn = conn
        try:
            with self._translate(opening=True):
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
                # Takes effect only on a new file (before the first table): see _migrate.
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                mode = one(conn, "PRAGMA journal_mode=WAL")[0]
                if str(mode).lower() != "wal":
                    raise BufferCorrupt(f"{self.path}: cannot switch to WAL (got {mode})")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA cache_size={-CACHE_KIB}")
                self._stream_id = init_schema(conn, self.path)
                if self.budget is not None:
                    room.apply(conn, self.budget, self._wal, self._full_message())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._lock:
                conn.close()

    # -- properties ------------------------------------------------------------------------
    @property
    def stream_id(self) -> str:
        """Random, made when the file was created; a new file starts a new stream."""
        if self._stream_id is None:
            raise AgentStopped("buffer is not open")
        return self._stream_id

    def files(self) -> list[Path]:
        return [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]

    def disk_bytes(self) -> int:
        """Bytes the buffer's files take on disk now (database + WAL + WAL index)."""
        total = 0
        for p in self.files():
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                pass
        return total

    # -- writes ----------------------------------------------------------------------------
    def append_many(self, events: Sequence[Mapping[str, Any]]) -> list[int]:
        """Store events (WireEvents as dicts without `seq`) in one transaction; return their
        seqs. All or nothing: raises BufferFull if the limit refuses any of them."""
        rows = [(str(ev["id"]), _dumps(ev)) for ev in events]
        res = self.append_rows(rows, partial=False)
        return list(range(res.first_seq, res.first_seq + res.stored))

    def append_rows(
        self,
        rows: Sequence[tuple[str, str]],
        *,
        meta: Mapping[str, str] | None = None,
        partial: bool = True,
    ) -> Appended:
        """Store (id, body) rows in one transaction (one fsync for all: group commit), plus
        `meta` entries in the same transaction. Seqs are consecutive from `first_seq`.

        With reject_new and `partial`, as many rows as fit are stored (the first ones) and
        the rest counted as rejected; without `partial` a shortfall raises BufferFull."""
        if not rows and not meta:
            return Appended(0, 0, 0)
        with self._lock, self._translate():
            conn = self._connection()
            res = self._append(conn, rows, meta, partial)
            self._after_write(conn)
        if res.stored < len(rows) and not partial:
            raise BufferFull(self._full_message())
        return res

    def _append(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[tuple[str, str]],
        meta: Mapping[str, str] | None,
        partial: bool,
    ) -> Appended:
        for attempt in range(3):
            try:
                return self._append_once(conn, rows, meta, partial, attempt)
            except _Retry:
                continue
        raise AssertionError("unreachable")

    def _append_once(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[tuple[str, str]],
        meta: Mapping[str, str] | None,
        partial: bool,
        attempt: int,
    ) -> Appended:
        b = self.budget
        with transaction(conn):
            stored, dropped = len(rows), 0
            if b is not None and rows:
                nbytes = rows_bytes(rows)
                need = b.pages_for(nbytes, len(rows)) * (attempt + 1)
                if self.min_free_bytes and self._disk_low(need * b.page_size):
                    b = Capped(b.total_bytes, b.page_size, cap_pages=pages(conn)[0])
                if self.overflow == "drop_oldest":
                    dropped = room.make_room(conn, b, need, self._full_message())
                else:
                    stored = room.fitting(conn, b, rows, attempt + 1)
                    if stored < len(rows) and not partial:
                        stored = 0
                    bump(conn, "rejected_total", len(rows) - stored)
            try:
                # seq by AUTOINCREMENT (max(largest ever, largest now) + 1, as next_seq says):
                # consecutive within this transaction, which holds the write lock.
                last = insert_events(conn, rows if stored == len(rows) else rows[:stored])
            except sqlite3.OperationalError as exc:
                # max_page_count reached: the estimate was short. Roll back and try again with
                # a larger margin (a real full disk fails the same way, then raises).
                if "full" not in str(exc) or b is None or attempt == 2:
                    raise
                raise _Retry() from exc
            for key, value in (meta or {}).items():
                conn.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))
            return Appended(last - stored + 1 if stored else 0, stored, dropped)

    def _disk_low(self, need_bytes: int) -> bool:
        """Would `need_bytes` more (twice: the WAL first, then the database) leave less than
        min_free_bytes free on the buffer's file system? Logs when an episode starts/ends."""
        free = room.free_bytes(self.path.parent)
        if free is None:
            return False
        # Hysteresis: out of an episode only with room for the WAL to grow back as well, or it
        # would start the next one at once (while low, the WAL is truncated after each commit).
        margin = self.budget.wal_bytes if self.low_disk and self.budget else 0
        low = free - 2 * need_bytes < self.min_free_bytes + margin
        if low != self.low_disk:
            self.low_disk = low
            room.log_disk_episode(low, free, self.min_free_bytes, self.overflow)
        return low

    def _after_write(self, conn: sqlite3.Connection) -> None:
        if self.low_disk:  # the WAL's space goes back to the file system after each commit
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        elif self.budget is not None:
            room.after_write(conn, self.budget, self._wal)

    def _full_message(self) -> str:
        limit = self.budget.total_bytes if self.budget else 0
        if self.low_disk:
            want = self.min_free_bytes / 1048576
            return f"buffer full (file system below min_free_mb = {want:g} MiB, {self.overflow})"
        return f"buffer full ({limit / 1048576:g} MiB limit, overflow={self.overflow})"

    def ack(
        self,
        first: int,
        last: int,
        *,
        anchor: tuple[str, int, int] | None = None,
        reported: Iterable[D.Drop] = (),
        last_ack_ms: int | None = None,
        more: Sequence[tuple[int, int]] = (),
        backlog_after: int | None = None,
    ) -> int:
        """Apply acks in one transaction: delete the events with first <= seq <= last (and in
        each of the `more` ranges: acks that arrived together), forget the drop ranges the acked
        batches reported, keep the anchor and the ack time. Returns how many were deleted.

        With events stored beyond `backlog_after` (a backlog draining) freed pages stay in the
        file unless the disk is low: returning them moves live pages, the events about to be
        sent and deleted (that tripled an ack's CPU late in a drain); once drained, they go."""
        with self._lock, self._translate():
            conn = self._connection()
            with transaction(conn):
                n = 0
                for a, b in ((first, last), *more):
                    cur = conn.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (a, b))
                    n += cur.rowcount
                D.clear(conn, reported)
                if anchor is not None:
                    conn.execute("INSERT OR REPLACE INTO anchors VALUES(?, ?, ?)", anchor)
                if last_ack_ms is not None:
                    conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES('last_ack_ms', ?)", (str(last_ack_ms),)
                    )
            if self.budget is not None and (
                backlog_after is None or self.low_disk or next_seq(conn) - 1 <= backlog_after
            ):
                room.vacuum_once(conn, self.budget)
            self._after_write(conn)
            return n

    def delete_range(
        self, first: int, last: int, *, anchor: tuple[str, int, int] | None = None
    ) -> int:
        return self.ack(first, last, anchor=anchor)

    def save_anchor(self, boot: str, mono: int, true_ms: int) -> None:
        """Remember the latest collector time seen at a monotonic instant of `boot`."""
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO anchors VALUES(?, ?, ?)", (boot, mono, true_ms))

    def set_meta(self, key: str, value: str | None) -> None:
        with self._tx() as conn:
            if value is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (key, value))

    # -- reads -----------------------------------------------------------------------------
    def read_after(
        self, seq: int, max_events: int, max_bytes: int, *, upto: int | None = None
    ) -> list[tuple[int, str]]:
        """Events with seq > `seq` (and <= `upto`), oldest first, as (seq, body).

        Stops before max_events or before the bodies (plus SEQ_OVERHEAD_BYTES each) would exceed
        max_bytes, but always returns at least one event if there is one, so an event larger
        than the budget cannot block the stream."""
        hi = upto if upto is not None else 2**63 - 1
        with self._read() as conn:
            # CAST: a body that is not TEXT (a file written by hand) reads as text all the same.
            cur = conn.execute(
                "SELECT seq, CAST(body AS TEXT) FROM events WHERE seq > ? AND seq <= ? "
                "ORDER BY seq LIMIT ?",
                (seq, hi, max_events),
            )
            try:
                return fetch_within(cur, max_bytes, SEQ_OVERHEAD_BYTES)
            finally:
                cur.close()  # see one()

    def last_seq(self) -> int:
        """The highest seq ever assigned (0 for a new buffer), acked or not."""
        with self._read() as conn:
            return next_seq(conn) - 1

    def depth(self) -> int:
        with self._read() as conn:
            return int(one(conn, "SELECT count(*) FROM events")[0])

    def oldest(self) -> Oldest | None:
        """The oldest unacked event, or None when everything has been acked."""
        with self._read() as conn:
            row = one(conn, "SELECT seq, id, body FROM events ORDER BY seq LIMIT 1")
        return None if row is None else oldest_of(row)

    def anchors(self) -> dict[str, tuple[int, int]]:
        """boot id -> (mono, true_ms)."""
        with self._read() as conn:
            rows = conn.execute("SELECT boot, mono, true_ms FROM anchors").fetchall()
        return {str(b): (int(m), int(t)) for b, m, t in rows}

    def pending_drops(self, limit: int = 64) -> list[D.Drop]:
        """Drop ranges no acked batch has reported yet, oldest first."""
        with self._read() as conn:
            return D.pending(conn, limit)

    def meta(self) -> dict[str, str]:
        with self._read() as conn:
            return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate():
            yield self._connection()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate():
            conn = self._connection()
            with transaction(conn):
                yield conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise AgentStopped("buffer is not open")
        return self._conn

    @contextmanager
    def _translate(self, *, opening: bool = False) -> Iterator[None]:
        """sqlite3 errors become agent errors that say whether retrying can help."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            # Locked/busy past the timeout, disk full, an I/O hiccup: the file itself is fine.
            # While opening, anything but "locked" means a path or file we cannot use at all.
            if opening and "locked" not in str(exc):
                raise BufferCorrupt(f"cannot open buffer {self.path}: {exc}") from exc
            raise BufferUnavailable(f"buffer {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # not a database, malformed
            raise BufferCorrupt(f"buffer {self.path}: {exc}") from exc


class _Retry(Exception):
    """Internal: roll back the transaction and try the append again with a larger margin."""


def _dumps(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
