"""How a size limit for the buffer's files becomes SQLite settings and per-commit decisions.

The limit covers the three files on disk: the database, its write-ahead log and the WAL index
(`-shm`). It is split up front:

- the WAL gets an eighth (128 KiB to 8 MiB): checkpoints run when it is half full
  (`wal_autocheckpoint`), it is truncated back after a checkpoint (`journal_size_limit`), one
  commit writes at most a quarter of it, and a TRUNCATE checkpoint is forced if it still grows
  past three quarters (a reader in another process held an old snapshot);
- the WAL index gets 64 KiB (32 KiB covers 4,096 frames; the WAL never has that many);
- the database gets the rest, as a page count enforced twice: before each commit the buffer
  estimates the pages it needs and frees room (or refuses), and `max_page_count` makes SQLite
  itself refuse to grow past it should the estimate be short.

Free pages (after acks) are reused by later inserts; `incremental_vacuum` (the file is
`auto_vacuum=INCREMENTAL`) returns them to the file system once most of the file is free and
no backlog is draining (Buffer.ack).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import filterfalse
from operator import itemgetter

KIB = 1024
MIB = 1024 * KIB
WAL_FRAME_HEADER = 24
SHM_RESERVE = 64 * KIB
# Bytes a row costs beyond its id and body: cell pointer, record header, rowid varint.
ROW_OVERHEAD = 16
# Leaf pages of an append-only rowid table are nearly full; interior and pointer-map pages
# and the partly filled last leaf are what the rest of the margin is for.
FILL = 0.85


@dataclass(frozen=True, slots=True)
class Budget:
    total_bytes: int
    page_size: int = 4096

    def __post_init__(self) -> None:
        if self.data_pages < 16:
            raise ValueError(f"buffer limit {self.total_bytes} bytes is too small")

    @property
    def wal_bytes(self) -> int:
        return max(128 * KIB, min(self.total_bytes // 8, 8 * MIB))

    @property
    def data_pages(self) -> int:
        return (self.total_bytes - self.wal_bytes - SHM_RESERVE) // self.page_size

    @property
    def checkpoint_frames(self) -> int:
        """wal_autocheckpoint: a checkpoint once the WAL holds half its share."""
        return max(8, self.wal_bytes // 2 // (self.page_size + WAL_FRAME_HEADER))

    @property
    def journal_limit(self) -> int:
        return self.wal_bytes // 2

    @property
    def force_checkpoint_bytes(self) -> int:
        return self.wal_bytes * 3 // 4

    @property
    def commit_bytes(self) -> int:
        """Event bytes one transaction may write (so one commit cannot overrun the WAL)."""
        return max(16 * KIB, int(self.wal_bytes // 4 * FILL))

    @property
    def vacuum_step_pages(self) -> int:
        """Pages one incremental_vacuum transaction frees (each may move a page: WAL frames)."""
        return max(8, self.checkpoint_frames // 2)

    def pages_for(self, nbytes: int, rows: int) -> int:
        """Pages `rows` rows with `nbytes` of id and body take, conservatively."""
        return int((nbytes + rows * ROW_OVERHEAD) / (self.page_size * FILL)) + 2


@dataclass(frozen=True, slots=True)
class Capped(Budget):
    """The budget while the file system is low on space: the database may not grow beyond the
    pages it has (new events reuse freed pages, or make room by the overflow policy)."""

    cap_pages: int = 0

    def __post_init__(self) -> None:
        pass  # a cap below Budget's minimum is fine: it only says "no more pages"

    @property
    def data_pages(self) -> int:
        whole = (self.total_bytes - self.wal_bytes - SHM_RESERVE) // self.page_size
        return min(self.cap_pages, whole)


def row_bytes(event_id: str, body: str) -> int:
    return len(event_id) + len(body.encode())


def rows_bytes(rows: Sequence[tuple[str, str]]) -> int:
    """sum(row_bytes(i, body) for i, body in rows), in C loops but for non-ASCII bodies (an
    ASCII str's length is its UTF-8 length): it runs on the buffer's thread, holding the GIL,
    for every commit. No joined copy of the bodies: it would raise the peak memory."""
    return sum(map(len, map(_ID, rows))) + text_bytes(list(map(_BODY, rows)))


def text_bytes(texts: Sequence[str]) -> int:
    """sum(len(t.encode()) for t in texts), in C loops but for non-ASCII texts."""
    return sum(map(len, texts)) + sum(
        len(t.encode()) - len(t) for t in filterfalse(str.isascii, texts)
    )


_ID, _BODY = itemgetter(0), itemgetter(1)
