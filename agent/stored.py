"""The buffer's stored format: its tables, the schema version, how a new file is set up, and
how the oldest stored event reads back. agent/buffer.py does the reads and writes.

A file keeps one stream: its random stream id is made in the same transaction that creates
the tables, so two processes opening a new file at once agree on it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

from agent.errors import BufferCorrupt
from agent.sqlbits import one, transaction

SCHEMA_VERSION = "1"

_SCHEMA = (
    # AUTOINCREMENT: a seq is never reused, even after every row has been acked and deleted.
    # body: JSON of the WireEvent without seq.
    """CREATE TABLE IF NOT EXISTS events(
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS anchors(
        boot TEXT PRIMARY KEY, mono INTEGER NOT NULL, true_ms INTEGER NOT NULL)""",
    # Added without a schema bump: an older agent simply ignores it.
    """CREATE TABLE IF NOT EXISTS drops(
        first INTEGER PRIMARY KEY, last INTEGER NOT NULL, reason TEXT NOT NULL)""",
)


class Oldest(NamedTuple):
    seq: int
    ts_ms: int  # the device wall clock when it was recorded (may be wrong, like every ts)
    id: str = ""
    mono: int | None = None
    boot: str | None = None


def init_schema(conn: sqlite3.Connection, path: Path) -> str:
    """Create what is missing; return the file's stream id. Raises BufferCorrupt for a schema
    version this agent does not know."""
    # One write transaction, so two processes opening a new file agree on one stream id.
    with transaction(conn):
        for statement in _SCHEMA:
            conn.execute(statement)
        stream_id = f"s-{os.urandom(12).hex()}"
        conn.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("INSERT OR IGNORE INTO meta VALUES('stream_id', ?)", (stream_id,))
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("schema") != SCHEMA_VERSION:
        raise BufferCorrupt(f"{path}: buffer schema {meta.get('schema')!r} unknown")
    return str(meta["stream_id"])


def oldest_of(row: tuple[Any, ...]) -> Oldest:
    """The (seq, id, body) row of the oldest event as an Oldest (the clocks from its body)."""
    try:
        doc = json.loads(row[2])
    except ValueError:
        doc = {}
    mono, boot = doc.get("mono"), doc.get("boot")
    return Oldest(
        int(row[0]),
        int(doc.get("ts", 0)),
        str(row[1]),
        mono if isinstance(mono, int) else None,
        boot if isinstance(boot, str) else None,
    )


def next_seq(conn: sqlite3.Connection) -> int:
    """The seq the next event gets (AUTOINCREMENT's rule: never one used before)."""
    row = one(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
    top = one(conn, "SELECT max(seq) FROM events")[0]
    return max(int(row[0]) if row else 0, int(top or 0)) + 1
