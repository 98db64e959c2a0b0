"""agent/writer.py: what the writer counts and reports, its bounds at their edges, how it
estimates a commit's duration (which decides early starts), and its logging of failures.

Same fakes as test_writer.py: a buffer that records transactions (and can store fewer rows
than given, as the `reject_new` policy does), a hand-set clock."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence

import pytest

from agent.buffer import Appended
from agent.errors import AgentStopped, BufferUnavailable
from agent.writer import EARLY_MIN_ROWS, GroupWriter, Row
from tests.unit.agent.test_writer import Clock, FakeBuffer, rows, timed_commit

WAIT_S = 30


class PartialBuffer(FakeBuffer):
    """Stores at most `room` rows of each transaction and reports `dropped` older ones."""

    def __init__(self, room: int, dropped: int = 0) -> None:
        super().__init__()
        self.room, self.dropped = room, dropped

    def append_rows(
        self, rows: Sequence[Row], *, meta: Mapping[str, str] | None = None, partial: bool = True
    ) -> Appended:
        kept = list(rows[: self.room])
        super().append_rows(kept, meta=meta, partial=partial)
        return Appended(self.seq - len(kept) + 1 if kept else 0, len(kept), self.dropped)


async def settle(*futures: asyncio.Future[int]) -> list[int]:
    return list(await asyncio.wait_for(asyncio.gather(*futures), WAIT_S))


async def test_stats_add_up_over_commits() -> None:
    buf = PartialBuffer(room=3, dropped=2)
    seen: list[Appended] = []
    w = GroupWriter(buf, on_commit=seen.append)
    assert w.stats.pending == 0 and not w.failing
    first = [w.submit(rows(f"a{i}")) for i in range(5)]
    assert w.stats.pending == 5  # submitted, not yet committed
    assert await settle(*first) == [1, 1, 1, 0, 0]  # the first ones that fitted
    second = [w.submit(rows(f"b{i}")) for i in range(4)]
    assert await settle(*second) == [1, 1, 1, 0]
    s = w.stats
    assert (s.commits, s.stored, s.rejected, s.dropped, s.pending) == (2, 6, 3, 4, 0)
    assert s.max_group == 5
    assert seen == [Appended(1, 3, 2), Appended(4, 3, 2)]  # on_commit gets each result


async def test_stored_rows_are_shared_out_in_submission_order() -> None:
    buf = PartialBuffer(room=5)
    w = GroupWriter(buf)
    futures = [w.submit(rows(f"s{i}", 2)) for i in range(4)]
    assert await settle(*futures) == [2, 2, 1, 0]


async def test_each_transaction_carries_the_meta_of_its_start() -> None:
    buf = FakeBuffer()
    metas = iter([{"boot": "1"}, {"boot": "2"}])
    w = GroupWriter(buf, meta=lambda: next(metas))
    await settle(w.submit(rows("a")))
    await settle(w.submit(rows("b")))
    assert buf.metas == [{"boot": "1"}, {"boot": "2"}]


async def test_the_default_group_is_at_most_2000_events() -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf)
    await settle(*[w.submit(rows(f"e{i}")) for i in range(2001)])
    assert [len(g) for g in buf.groups] == [2000, 1]


async def test_a_group_may_fill_its_bounds_exactly() -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf, max_events=8)
    await settle(*[w.submit(rows(f"s{i}", 4)) for i in range(5)])
    assert [len(g) for g in buf.groups] == [8, 8, 4]
    by_bytes = FakeBuffer()
    w = GroupWriter(by_bytes, max_bytes=100)
    await settle(*[w.submit(rows(f"t{i}"), nbytes=50) for i in range(5)])
    assert [len(g) for g in by_bytes.groups] == [2, 2, 1]


async def test_a_submission_counts_the_bytes_of_its_ids_and_bodies() -> None:
    one = [("i" * 10, "b" * 40)]  # 50 bytes
    two = [("i" * 10, "b" * 40), ("j" * 10, "c" * 40)]  # 100 bytes
    buf = FakeBuffer()
    w = GroupWriter(buf, max_bytes=100)
    await settle(*[w.submit(list(one)) for _ in range(3)])
    assert [len(g) for g in buf.groups] == [2, 1]
    buf = FakeBuffer()
    w = GroupWriter(buf, max_bytes=200)
    await settle(*[w.submit(list(two)) for _ in range(3)])
    assert [len(g) for g in buf.groups] == [4, 2]  # two submissions of two rows, then one


async def test_the_caller_may_give_the_size() -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf, max_bytes=100)
    await settle(*[w.submit(rows(f"r{i}"), nbytes=60) for i in range(3)])
    assert [len(g) for g in buf.groups] == [1, 1, 1]


async def test_no_early_commit_before_any_commit_has_been_timed() -> None:
    buf, clock = FakeBuffer(), Clock()
    w = GroupWriter(buf, clock=clock, work_clock=clock)
    futures = [w.submit(rows(f"x{i}")) for i in range(EARLY_MIN_ROWS)]
    clock.now = 1000.0
    futures += [w.submit(rows(f"y{i}")) for i in range(EARLY_MIN_ROWS)]
    await settle(*futures)
    assert w.stats.early == 0 and [len(g) for g in buf.groups] == [2 * EARLY_MIN_ROWS]


async def early_after(w: GroupWriter, clock: Clock, preparing: float, n: int) -> bool:
    """Submit n rows while `preparing` seconds of loop work pass: did a commit start early?"""
    before = w.stats.early
    clock.now = 50.0
    futures = [w.submit(rows(f"p{i}")) for i in range(n - 1)]
    clock.now += preparing
    futures.append(w.submit(rows("last")))
    started = w.stats.early > before
    await settle(*futures)
    return started


async def timed_writer(*durations: float, start: float = 7.0) -> tuple[GroupWriter, Clock]:
    """A writer whose commits so far took `durations` on its clock (timed from their start,
    which is not zero)."""
    clock = Clock()
    clock.now = start
    w = GroupWriter(FakeBuffer(), clock=clock, work_clock=clock)
    for took in durations:
        fut = w.submit(rows("timed"))
        await asyncio.sleep(0)  # the commit starts: the writer reads the clock
        clock.now += took
        await asyncio.wait_for(fut, WAIT_S)
    return w, clock


@pytest.mark.parametrize(
    ("durations", "estimate"),
    # 4.0, then 4.0 + 0.2 * (2.0 - 4.0) = 3.6, then 3.6 + 0.2 * (2.0 - 3.6) = 3.28
    [((2.0,), 2.0), ((1.0, 3.0), 1.4), ((4.0, 2.0, 2.0), 3.28)],
    ids=["first", "second", "third"],
)
async def test_the_estimate_is_the_first_commit_then_moves_by_a_fifth(
    durations: tuple[float, ...], estimate: float
) -> None:
    """An early start comes once the loop has prepared for as long as commits take (EWMA)."""
    w, clock = await timed_writer(*durations)
    assert not await early_after(w, clock, estimate - 0.05, EARLY_MIN_ROWS)
    w, clock = await timed_writer(*durations)
    assert await early_after(w, clock, estimate + 0.05, EARLY_MIN_ROWS)


async def test_an_early_commit_needs_exactly_the_minimum_rows() -> None:
    buf, clock = FakeBuffer(), Clock()
    w = GroupWriter(buf, clock=clock, work_clock=clock)
    await timed_commit(w, clock, 1.0)
    assert await early_after(w, clock, 2.0, EARLY_MIN_ROWS)
    assert await early_after(w, clock, 2.0, EARLY_MIN_ROWS)
    assert w.stats.early == 2


async def test_refusal_after_close_says_why() -> None:
    w = GroupWriter(FakeBuffer())
    w.close()
    with pytest.raises(AgentStopped, match=r"^agent is stopping: not accepting events$"):
        w.submit(rows("late"))


async def test_fail_pending_before_any_commit_started() -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf)
    queued = w.submit(rows("a"))  # its commit is scheduled, not started
    w.fail_pending(AgentStopped("stopped"))
    with pytest.raises(AgentStopped):
        await queued
    await asyncio.sleep(0.01)
    assert buf.groups == [] and w.idle
    with pytest.raises(AgentStopped):  # a later caller would wait forever: refused at once
        w.submit(rows("b"))


async def test_a_commit_under_way_at_fail_pending_starts_no_other() -> None:
    buf = FakeBuffer()
    buf.hold = threading.Event()
    w = GroupWriter(buf)
    writing = w.submit(rows("a"))
    assert await asyncio.to_thread(buf.entered.wait, WAIT_S)
    w.fail_pending(AgentStopped("stopped"))
    with pytest.raises(AgentStopped):
        w.submit(rows("b"))
    buf.hold.set()
    with pytest.raises(AgentStopped):
        await writing
    await asyncio.sleep(0.01)
    assert buf.groups == [rows("a")] and w.idle


async def test_a_failing_disk_is_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf)
    caplog.set_level(logging.WARNING, logger="agent.writer")
    buf.fail = BufferUnavailable("disk full")
    with pytest.raises(BufferUnavailable):
        await w.submit(rows("a"))
    failing = ("WARNING", "buffer writes failing, intake refused: disk full")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [failing]  # at once
    with pytest.raises(BufferUnavailable):
        await w.submit(rows("b"))
    assert w.failing and w.stats.failed_commits == 2 and w.stats.last_error == "disk full"
    buf.fail = None
    assert await w.submit(rows("c")) == 1
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        failing,
        ("WARNING", "buffer writes succeed again (2 failed)"),
    ]


async def test_an_unexpected_error_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buf = FakeBuffer()
    w = GroupWriter(buf)
    caplog.set_level(logging.WARNING, logger="agent.writer")
    boom = RuntimeError("bug")
    buf.fail = boom
    with pytest.raises(RuntimeError):
        await w.submit(rows("a"))
    [record] = caplog.records
    assert (record.levelname, record.getMessage()) == ("ERROR", "buffer write failed")
    assert record.exc_info is not None and record.exc_info[1] is boom
    assert w.failing and w.stats.last_error == "bug"


async def test_a_first_success_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    w = GroupWriter(FakeBuffer())
    caplog.set_level(logging.DEBUG, logger="agent.writer")
    assert not w.failing
    assert await w.submit(rows("a")) == 1
    assert caplog.records == [] and not w.failing
