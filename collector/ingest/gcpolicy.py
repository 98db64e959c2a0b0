"""The garbage collector's young generation, sized for ingest while an ingest loop runs.

Ingest keeps its rows alive from parse to commit: up to a few groups of 100,000 EventRows (a
tuple subclass, which CPython's collector never untracks, unlike a plain tuple of strings and
ints). At the default threshold (a young collection every 700 net allocations) each row is
scanned by young collections, then by middle ones, and every ~70,000 rows set off a full
collection of the heap: 0.35 s of collector CPU in a `bench ingest` run of 200,000 events
(1.4 s on the main thread). With a young generation of 50,000 a row is scanned about once, and
a group is committed and freed before a full collection comes due.

Process-wide by nature (the collector has one `gc`); set by the first loop that starts and
restored when the last one ends. Cycles wait longer to be freed (at most 50,000 allocations),
which is a few MB at most.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # net allocations between young collections while ingest runs


class _State:
    lock = threading.Lock()
    users = 0
    saved: tuple[int, int, int] | None = None


@contextmanager
def ingest_gc(young: int = YOUNG) -> Iterator[None]:
    """Raises the young generation's threshold to `young` for the duration (never lowers it,
    and leaves a collector disabled by a zero threshold alone)."""
    with _State.lock:
        if _State.users == 0:
            _State.saved = gc.get_threshold()
            first, *older = _State.saved
            if 0 < first < young:
                gc.set_threshold(young, *older)
        _State.users += 1
    try:
        yield
    finally:
        with _State.lock:
            _State.users -= 1
            if _State.users == 0 and _State.saved is not None:
                gc.set_threshold(*_State.saved)
                _State.saved = None
