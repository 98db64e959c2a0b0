"""Group commit: many callers' events, one transaction.

Callers `submit()` rows and await the returned future. One transaction runs at a time, on a
worker thread; what is submitted while it commits goes into the next one, so throughput grows
with concurrency instead of being one fsync per event. A transaction is bounded in events and
bytes (the WAL's share of the size limit bounds how much one commit may write).

When the next transaction starts (adaptive group commit):
- rows waiting when a commit ends: at once (they arrived while it ran);
- otherwise once the event loop has run everything that was ready, so that the callers the last
  commit resumed have all submitted again: one transaction for all of them;
- unless preparing them takes longer than a commit does (a fast disk, a busy loop): then, with
  EARLY_MIN_ROWS rows waiting once the loop has spent as much CPU time preparing them as the
  recent commits took, the commit starts at once and the rest is prepared while it runs, so
  the loop and the disk work at the same time instead of in turns. With a slow disk (or a
  loop starved of CPU) this never fires and groups stay whole.
An event is acknowledged only when the transaction holding it has committed, as before.

A submission's future resolves to how many of its rows were stored: all of them, or with the
`reject_new` overflow policy the first ones that fitted. It fails with the buffer's error
(BufferUnavailable...) if the transaction failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Protocol

from agent.buffer import Appended
from agent.errors import AgentStopped
from shared.errors import PesError

log = logging.getLogger(__name__)

Row = tuple[str, str]  # (event id, body)
# An early commit needs at least this many rows: a commit's fixed cost (the fsync, the size
# checks) is paid again for each one, so tiny groups would cost more than the overlap gains.
EARLY_MIN_ROWS = 64
COMMIT_EWMA = 0.2  # weight of the newest commit's duration in the estimate


class Appender(Protocol):
    """What the writer needs of agent.buffer.Buffer."""

    def append_rows(
        self, rows: Sequence[Row], *, meta: Mapping[str, str] | None = ..., partial: bool = ...
    ) -> Appended: ...


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
    early: int = 0  # commits started before the loop had run everything ready


class GroupWriter:
    def __init__(
        self,
        buffer: Appender,
        *,
        max_events: int = 2000,
        max_bytes: int = 4 * 1024 * 1024,
        meta: Callable[[], Mapping[str, str] | None] = lambda: None,
        on_commit: Callable[[Appended], None] = lambda _a: None,
        clock: Callable[[], float] = time.perf_counter,
        work_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        """`clock` times the commits; `work_clock` the loop's preparing (its CPU time, not the
        wall clock: on a busy machine a loop waiting for a CPU is not preparing anything, and
        splitting groups then would only add commits)."""
        self._buffer = buffer
        self._clock = clock
        self._work_clock = work_clock
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._meta = meta
        self._on_commit = on_commit
        self._queue: list[_Submission] = []
        self._queued_rows = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._stopped = False  # fail_pending(): no more commits start
        self._writing: list[_Submission] = []
        self._busy = False  # a transaction is being committed
        self._kick: asyncio.Handle | None = None  # the start scheduled behind the ready work
        # work_clock and clock when the first waiting row arrived (not busy)
        self._first_at = self._first_wall = 0.0
        self._started_at = 0.0
        self._commit_s = 0.0  # recent commits' duration (EWMA); 0 = none yet, never early
        self._failing = False  # the last commit failed (e.g. disk full): logged once
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = WriterStats()

    @property
    def failing(self) -> bool:
        """The last commit failed (a full disk, say): intake is being refused."""
        return self._failing

    @property
    def idle(self) -> bool:
        return not self._queue and not self._busy

    def submit(self, rows: list[Row], nbytes: int | None = None) -> asyncio.Future[int]:
        if self._closed or self._stopped:  # stopped: no commit would ever resolve the future
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
        self._queued_rows += len(rows)
        self.stats.pending += len(rows)
        if not self._busy:
            if self._kick is None:
                # call_soon: behind the callers that are already ready to run (those the last
                # commit resumed), so their rows join this transaction.
                self._first_at, self._first_wall = self._work_clock(), self._clock()
                self._kick = loop.call_soon(self._start)
            elif (
                self._commit_s
                and self._queued_rows >= EARLY_MIN_ROWS
                # The wall clock first (~50 ns): the loop's CPU time cannot have passed a
                # commit's time before it has, and reading that costs ~0.7 us (a system call).
                and self._clock() - self._first_wall >= self._commit_s
                and self._work_clock() - self._first_at >= self._commit_s
            ):
                self.stats.early += 1
                self._start()
        return fut

    def close(self) -> None:
        """No more submissions; run() returns once everything submitted is committed."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Returns once closed and everything submitted is committed. (The transactions are
        started by submit() and by each commit's end; this only waits for the last one.)"""
        self._loop = asyncio.get_running_loop()
        while not (self._closed and self.idle):
            self._wake.clear()
            await self._wake.wait()

    def _start(self) -> None:
        """Commit the next group on the worker thread (the loop runs on meanwhile)."""
        if self._kick is not None:
            self._kick.cancel()
            self._kick = None
        if self._busy or self._stopped or not self._queue:
            return
        assert self._loop is not None
        group = self._writing = self._cut()
        rows = [r for sub in group for r in sub.rows]
        meta = self._meta()
        self._busy = True
        self._started_at = self._clock()
        work = partial(self._buffer.append_rows, rows, meta=meta)
        self._loop.run_in_executor(None, work).add_done_callback(self._finished)

    def _finished(self, done: asyncio.Future[Appended]) -> None:
        group, self._writing = self._writing, []
        self._busy = False
        nrows = sum(len(sub.rows) for sub in group)
        self.stats.pending -= nrows
        took = self._clock() - self._started_at
        prev = self._commit_s
        self._commit_s = took if not prev else prev + COMMIT_EWMA * (took - prev)
        try:
            res = done.result()
        except Exception as exc:  # the callers get the error; the writer lives on
            self._failed(group, exc)
        else:
            self._committed(group, nrows, res)
        if self._queue and not self._stopped:
            self._start()  # arrived while this one committed: no reason to wait
        self._wake.set()  # run() looks whether it is done

    def _failed(self, group: list[_Submission], exc: Exception) -> None:
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

    def _committed(self, group: list[_Submission], nrows: int, res: Appended) -> None:
        if self._failing:
            self._failing = False
            log.warning("buffer writes succeed again (%d failed)", self.stats.failed_commits)
        self.stats.commits += 1
        self.stats.stored += res.stored
        self.stats.rejected += nrows - res.stored
        self.stats.dropped += res.dropped
        self.stats.max_group = max(self.stats.max_group, nrows)
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
        self._queued_rows -= n
        return group

    def fail_pending(self, exc: BaseException) -> None:
        """After a stalled shutdown: callers must not wait forever, and no commit starts
        again. Those being written at that moment may in fact have been stored."""
        self._stopped = True
        if self._kick is not None:
            self._kick.cancel()
            self._kick = None
        for sub in (*self._writing, *self._queue):
            if not sub.future.done():
                sub.future.set_exception(exc)
                sub.future.exception()
        self._queue.clear()
        self._queued_rows = 0
        self._writing = []
        self._wake.set()
