"""agent/writer.py: group commit, and when a group's commit starts (adaptive group commit).

A fake buffer stands in for SQLite: it records each transaction's rows and, when told to,
holds a commit open until the test lets it finish, so what is acknowledged when is visible.
The writer's clock is a fake one as well: whether a commit starts early depends on how long
the last commits took, which the test sets instead of measuring."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

import pytest

from agent.buffer import Appended
from agent.errors import AgentStopped, BufferUnavailable
from agent.writer import EARLY_MIN_ROWS, GroupWriter, Row


class FakeBuffer:
    def __init__(self) -> None:
        self.groups: list[list[Row]] = []
        self.metas: list[Mapping[str, str] | None] = []
        self.hold: threading.Event | None = None  # set: commits wait until it is set
        self.entered = threading.Event()  # a commit has begun (and may be held)
        self.fail: Exception | None = None
        self.seq = 0

    def append_rows(
        self, rows: Sequence[Row], *, meta: Mapping[str, str] | None = None, partial: bool = True
    ) -> Appended:
        self.entered.set()
        if self.hold is not None:
            assert self.hold.wait(30)
        if self.fail is not None:
            raise self.fail
        self.groups.append(list(rows))
        self.metas.append(meta)
        first = self.seq + 1
        self.seq += len(rows)
        return Appended(first, len(rows), 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rows(prefix: str, n: int = 1) -> list[Row]:
    return [(f"{prefix}-{i}", "{}") for i in range(n)]


async def timed_commit(w: GroupWriter, clock: Clock, took: float) -> None:
    """One commit that "takes" `took` seconds on the fake clock: the writer's estimate."""
    fut = w.submit(rows("warm"))
    await asyncio.sleep(0)  # the commit starts (the writer reads the clock)
    clock.now += took
    await fut
    assert w.stats.commits == 1


async def test_what_is_submitted_in_one_loop_pass_is_one_transaction() -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf)
    futures = [w.submit(rows(f"e{i}")) for i in range(300)]
    assert await asyncio.gather(*futures) == [1] * 300
    assert [len(g) for g in buf.groups] == [300]
    assert w.stats.commits == 1 and w.stats.stored == 300 and w.stats.early == 0


async def test_an_event_is_acknowledged_only_after_its_commit_returns() -> None:
    buf = FakeBuffer()
    buf.hold = threading.Event()
    w = GroupWriter(buf)
    fut = w.submit(rows("a"))
    assert await asyncio.to_thread(buf.entered.wait, 30)
    await asyncio.sleep(0.01)
    assert not fut.done() and not w.idle  # the commit is still running
    buf.hold.set()
    assert await fut == 1
    assert buf.groups == [rows("a")]


async def test_rows_submitted_during_a_commit_go_into_the_next_one_at_once() -> None:
    buf = FakeBuffer()
    buf.hold = threading.Event()
    w = GroupWriter(buf)
    first = w.submit(rows("a"))
    assert await asyncio.to_thread(buf.entered.wait, 30)
    later = [w.submit(rows(f"b{i}")) for i in range(5)]
    buf.hold.set()
    await asyncio.gather(first, *later)
    assert [len(g) for g in buf.groups] == [1, 5]


async def test_a_commit_starts_early_when_preparing_takes_longer_than_commits_do() -> None:
    buf, clock = FakeBuffer(), Clock()
    w = GroupWriter(buf, clock=clock, work_clock=clock)
    await timed_commit(w, clock, 1.0)
    clock.now = 10.0
    futures = [w.submit(rows(f"x{i}")) for i in range(EARLY_MIN_ROWS)]
    assert w.stats.early == 0  # not yet a commit's time: wait for the rest
    clock.now = 11.0
    futures.append(w.submit(rows("last")))  # a commit's time spent preparing: start now
    assert w.stats.early == 1
    futures += [w.submit(rows(f"y{i}")) for i in range(3)]  # prepared while it commits
    await asyncio.gather(*futures)
    assert [len(g) for g in buf.groups] == [1, EARLY_MIN_ROWS + 1, 3]


async def test_no_early_commit_below_the_minimum_group() -> None:
    buf, clock = FakeBuffer(), Clock()
    w = GroupWriter(buf, clock=clock, work_clock=clock)
    await timed_commit(w, clock, 1.0)
    clock.now = 100.0
    futures = [w.submit(rows(f"x{i}")) for i in range(EARLY_MIN_ROWS - 2)]
    clock.now = 200.0
    futures.append(w.submit(rows("last")))
    await asyncio.gather(*futures)
    assert w.stats.early == 0
    assert [len(g) for g in buf.groups] == [1, EARLY_MIN_ROWS - 1]


async def test_groups_stay_within_the_bounds() -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf, max_events=10)
    futures = [w.submit(rows(f"s{i}", 4)) for i in range(5)]
    await asyncio.gather(*futures)
    assert [len(g) for g in buf.groups] == [8, 8, 4]  # whole submissions only


async def test_a_failed_commit_fails_its_callers_and_the_writer_goes_on() -> None:
    buf = FakeBuffer()
    buf.fail = BufferUnavailable("disk gone")
    w = GroupWriter(buf)
    with pytest.raises(BufferUnavailable):
        await w.submit(rows("a"))
    assert w.failing and w.stats.failed_commits == 1
    buf.fail = None
    assert await w.submit(rows("b")) == 1
    assert not w.failing and buf.groups == [rows("b")]


async def test_run_returns_once_closed_and_everything_is_committed() -> None:
    buf = FakeBuffer()
    buf.hold = threading.Event()
    w = GroupWriter(buf)
    runner = asyncio.create_task(w.run())
    futures = [w.submit(rows(f"a{i}")) for i in range(3)]
    w.close()
    with pytest.raises(AgentStopped):
        w.submit(rows("late"))
    await asyncio.sleep(0.01)
    assert not runner.done()  # a commit is still running
    buf.hold.set()
    await asyncio.wait_for(runner, 30)
    assert all(f.result() == 1 for f in futures)


async def test_fail_pending_fails_the_waiting_and_starts_no_more_commits() -> None:
    buf = FakeBuffer()
    buf.hold = threading.Event()
    w = GroupWriter(buf)
    writing = w.submit(rows("a"))
    assert await asyncio.to_thread(buf.entered.wait, 30)
    queued = w.submit(rows("b"))
    w.fail_pending(AgentStopped("stopped"))
    for fut in (writing, queued):
        with pytest.raises(AgentStopped):
            await fut
    buf.hold.set()
    w.close()
    await asyncio.wait_for(w.run(), 30)  # returns once the commit under way has ended
    assert buf.groups == [rows("a")]  # the one under way finished; "b" was never written


async def test_the_early_start_reads_the_cpu_clock_only_once_a_commits_time_has_passed() -> None:
    # Reading the loop's CPU time is a system call (~0.7 us): not once per submission while
    # the wall clock says a commit's time cannot have been spent preparing yet.
    buf, clock = FakeBuffer(), Clock()
    reads = 0

    def cpu() -> float:
        nonlocal reads
        reads += 1
        return clock.now

    w = GroupWriter(buf, clock=clock, work_clock=cpu)
    await timed_commit(w, clock, 1.0)
    reads = 0
    futures = [w.submit(rows(f"x{i}")) for i in range(4 * EARLY_MIN_ROWS)]
    assert reads == 1  # when the first row arrived
    clock.now += 1.0
    futures.append(w.submit(rows("last")))
    assert reads == 2 and w.stats.early == 1
    await asyncio.gather(*futures)
