"""Group commit: many callers' events, one transaction.

Callers `submit()` rows and await the returned future; one task takes everything submitted
while the previous transaction was committing and writes it as the next one. Throughput then
grows with concurrency instead of being one fsync per event. A transaction is bounded in
events and bytes (the WAL's share of the size limit bounds how much one commit may write).

A submission's future resolves to how many of its rows were stored: all of them, or with the
`reject_new` overflow policy the first ones that fitted. It fails with the buffer's error
(BufferUnavailable...) if the transaction failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain

from agent.buffer import Appended, Buffer
from agent.errors import AgentStopped
from shared.errors import PesError

log = logging.getLogger(__name__)

Row = tuple[str, str]  # (event id, body)


@dataclass(slots=True)
class _Submission:
    rows: list[Row]
    nbytes: int
    future: asyncio.Future[int]


@dataclass(slots=True)
class WriterStats:
    stored: int = 0
    rejected: int = 0
    dropped: int = 0  # older events deleted to make room by this process
    commits: int = 0
    failed_commits: int = 0
    pending: int = 0  # submitted rows not yet committed
    last_error: str | None = None
    max_group: int = field(default=0)


class GroupWriter:
    def __init__(
        self,
        buffer: Buffer,
        *,
        max_events: int = 2000,
        max_bytes: int = 4 * 1024 * 1024,
        meta: Callable[[], Mapping[str, str] | None] = lambda: None,
        on_commit: Callable[[Appended], None] = lambda _a: None,
    ) -> None:
        self._buffer = buffer
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._meta = meta
        self._on_commit = on_commit
        self._queue: list[_Submission] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._writing: list[_Submission] = []
        self._failing = False  # the last commit failed (e.g. disk full): logged once
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = WriterStats()

    @property
    def failing(self) -> bool:
        """The last commit failed (a full disk, say): intake is being refused."""
        return self._failing

    @property
    def idle(self) -> bool:
        return not self._queue and not self._writing

    def submit(self, rows: list[Row], nbytes: int | None = None) -> asyncio.Future[int]:
        if self._closed:
            raise AgentStopped("agent is stopping: not accepting events")
        loop = self._loop
        if loop is None:  # the loop of the first caller: one agent runs on one loop
            loop = self._loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if nbytes is not None:
            size = nbytes
        elif len(rows) == 1:  # record(): one event, no session rows
            size = len(rows[0][0]) + len(rows[0][1])
        else:
            size = sum(map(len, chain.from_iterable(rows)))
        self._queue.append(_Submission(rows, size, fut))
        self.stats.pending += len(rows)
        self._wake.set()
        return fut

    def close(self) -> None:
        """No more submissions; run() returns once everything submitted is committed."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            group = self._writing = self._cut()
            rows = [r for sub in group for r in sub.rows]
            meta = self._meta()
            try:
                res = await asyncio.to_thread(self._buffer.append_rows, rows, meta=meta)
            except Exception as exc:  # the callers get the error; the writer lives on
                self.stats.failed_commits += 1
                self.stats.last_error = str(exc)
                if not isinstance(exc, PesError):
                    log.error("buffer write failed", exc_info=exc)
                elif not self._failing:  # once per episode: a full disk fails every commit
                    log.warning("buffer writes failing, intake refused: %s", exc)
                self._failing = True
                for sub in group:
                    if not sub.future.done():
                        sub.future.set_exception(exc)
                        sub.future.exception()  # retrieved: a caller that went away is fine
                continue
            finally:
                self.stats.pending -= len(rows)
                self._writing = []
            if self._failing:
                self._failing = False
                log.warning("buffer writes succeed again (%d failed)", self.stats.failed_commits)
            self.stats.commits += 1
            self.stats.stored += res.stored
            self.stats.rejected += len(rows) - res.stored
            self.stats.dropped += res.dropped
            self.stats.max_group = max(self.stats.max_group, len(rows))
            left = res.stored
            for sub in group:
                n = min(left, len(sub.rows))
                left -= n
                if not sub.future.done():
                    sub.future.set_result(n)
            self._on_commit(res)

    def _cut(self) -> list[_Submission]:
        """The next transaction: whole submissions, at least one, within the bounds."""
        n = nbytes = 0
        k = 0
        for sub in self._queue:
            full = n + len(sub.rows) > self._max_events or nbytes + sub.nbytes > self._max_bytes
            if k and full:
                break
            n += len(sub.rows)
            nbytes += sub.nbytes
            k += 1
        group, self._queue = self._queue[:k], self._queue[k:]
        return group

    def fail_pending(self, exc: BaseException) -> None:
        """After a cancelled run(): callers must not wait forever. Those being written when
        it was cancelled may in fact have been stored."""
        for sub in (*self._writing, *self._queue):
            if not sub.future.done():
                sub.future.set_exception(exc)
                sub.future.exception()
        self._queue.clear()
        self._writing = []
