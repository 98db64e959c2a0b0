"""The durable local buffer: SQLite in WAL mode, one row per event, deleted only when acked.

Synchronous on purpose: `pes-agent emit` writes with it directly while `pes-agent run` reads and
deletes from another process on the same file (WAL lets readers and one writer work at once;
busy_timeout makes a second writer wait instead of failing). The asyncio side calls it through
asyncio.to_thread, so one lock serialises the connection's transactions across threads.

synchronous=FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and
the contract says an event is durable before the caller hears "stored"."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from agent.errors import AgentError, BufferCorrupt, BufferUnavailable

SCHEMA_VERSION = "1"
BUSY_TIMEOUT_MS = 5000
# Bytes an event costs in a batch beyond its stored body: `"seq":N,` and the list comma.
SEQ_OVERHEAD_BYTES = 24

_SCHEMA = (
    # AUTOINCREMENT: a seq is never reused, even after every row has been acked and deleted.
    # body: JSON of the WireEvent without seq.
    """CREATE TABLE IF NOT EXISTS events(
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS anchors(
        boot TEXT PRIMARY KEY, mono INTEGER NOT NULL, true_ms INTEGER NOT NULL)""",
)


class Oldest(NamedTuple):
    seq: int
    ts_ms: int  # the device wall clock when it was recorded (may be wrong, like every ts)


class Buffer:
    """Open with `with Buffer(path) as buf:`; nothing touches the disk before that."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._stream_id: str | None = None

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
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise BufferCorrupt(f"{self.path}: cannot switch to WAL (got {mode})")
                conn.execute("PRAGMA synchronous=FULL")
                self._stream_id = self._init_schema(conn)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._lock:
                conn.close()

    def _init_schema(self, conn: sqlite3.Connection) -> str:
        # One write transaction, so two processes opening a new file agree on one stream id.
        with _transaction(conn):
            for statement in _SCHEMA:
                conn.execute(statement)
            stream_id = f"s-{secrets.token_hex(12)}"
            conn.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES('stream_id', ?)", (stream_id,))
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema") != SCHEMA_VERSION:
            raise BufferCorrupt(f"{self.path}: buffer schema {meta.get('schema')!r} unknown")
        return str(meta["stream_id"])

    # -- properties ------------------------------------------------------------------------
    @property
    def stream_id(self) -> str:
        """Random, made when the file was created; a new file starts a new stream."""
        if self._stream_id is None:
            raise AgentError("buffer is not open")
        return self._stream_id

    # -- writes ----------------------------------------------------------------------------
    def append_many(self, events: list[dict[str, Any]]) -> list[int]:
        """Store events in one transaction (one fsync for all: group commit); return their seqs.

        Each event is a WireEvent as a dict without `seq`; it is stored as compact JSON."""
        if not events:
            return []
        rows = [(str(ev["id"]), _dumps(ev)) for ev in events]
        with self._tx() as conn:
            return [
                int(conn.execute("INSERT INTO events(id, body) VALUES(?, ?)", row).lastrowid or 0)
                for row in rows
            ]

    def delete_range(
        self, first: int, last: int, *, anchor: tuple[str, int, int] | None = None
    ) -> int:
        """Delete the events with first <= seq <= last (an acked range); return how many.

        `anchor` (boot, mono, true_ms), learnt from the same ack, is saved in the same
        transaction: one fsync per ack instead of two."""
        with self._tx() as conn:
            n = conn.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (first, last))
            if anchor is not None:
                conn.execute("INSERT OR REPLACE INTO anchors VALUES(?, ?, ?)", anchor)
            return n.rowcount

    def save_anchor(self, boot: str, mono: int, true_ms: int) -> None:
        """Remember the latest collector time seen at a monotonic instant of `boot`."""
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO anchors VALUES(?, ?, ?)", (boot, mono, true_ms))

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
            cur = conn.execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (seq, hi, max_events),
            )
            out: list[tuple[int, str]] = []
            used = 0
            for s, body in cur:
                used += len(body.encode()) + SEQ_OVERHEAD_BYTES
                if out and used > max_bytes:
                    break
                out.append((int(s), str(body)))
            return out

    def last_seq(self) -> int:
        """The highest seq ever assigned (0 for a new buffer), acked or not."""
        with self._read() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            return int(row[0]) if row else 0

    def depth(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def oldest(self) -> Oldest | None:
        """The oldest unacked event, or None when everything has been acked."""
        with self._read() as conn:
            row = conn.execute("SELECT seq, body FROM events ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        return Oldest(int(row[0]), int(json.loads(row[1])["ts"]))

    def anchors(self) -> dict[str, tuple[int, int]]:
        """boot id -> (mono, true_ms)."""
        with self._read() as conn:
            rows = conn.execute("SELECT boot, mono, true_ms FROM anchors").fetchall()
        return {str(b): (int(m), int(t)) for b, m, t in rows}

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate():
            yield self._connection()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate():
            conn = self._connection()
            with _transaction(conn):
                yield conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise AgentError("buffer is not open")
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


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
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


def _dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
