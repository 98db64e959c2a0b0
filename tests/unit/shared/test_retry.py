import asyncio
import random
import threading
import time

import pytest

from shared.retry import Backoff, sleep_unless, thread_sleep_unless


def test_backoff_grows_then_caps_with_jitter_in_upper_half() -> None:
    b = Backoff(initial=0.5, cap=10.0)
    rng = random.Random(7)
    delays = [b.delay(a, rng) for a in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert 2.0 <= delays[3] <= 4.0
    assert all(5.0 <= d <= 10.0 for d in delays[5:])
    assert b.delay(10_000, rng) <= 10.0  # no overflow for huge attempt numbers


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(initial=5, cap=1)


async def test_sleep_is_interrupted_by_stop() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    t0 = time.monotonic()
    assert await sleep_unless(stop, 30) is True
    assert time.monotonic() - t0 < 5


async def test_sleep_runs_out_when_not_stopped() -> None:
    assert await sleep_unless(asyncio.Event(), 0.01) is False


class FixedRandom(random.Random):
    """random() returns what it was given: the jitter's ends, exactly."""

    def __init__(self, r: float) -> None:
        super().__init__(0)
        self.r = r

    def random(self) -> float:
        return self.r


def test_backoff_by_hand() -> None:
    # min(cap, initial * multiplier**attempt), jittered into [delay/2, delay].
    b = Backoff(initial=0.5, cap=10.0, multiplier=3.0)
    assert [b.delay(a, FixedRandom(1.0)) for a in range(5)] == [0.5, 1.5, 4.5, 10.0, 10.0]
    assert [b.delay(a, FixedRandom(0.0)) for a in range(4)] == [0.25, 0.75, 2.25, 5.0]
    assert b.delay(2, FixedRandom(0.5)) == 4.5 * 0.75
    # No overflow however many attempts: 2.0**65 would still be finite, but 10.0**400 is not.
    assert Backoff(initial=1.0, cap=1e300, multiplier=10.0).delay(400, FixedRandom(1.0)) == 1e64
    # Without a generator, the module's own: still within the bounds.
    assert 0.25 <= b.delay(0) <= 0.5


def test_backoff_limits_include_their_ends() -> None:
    assert Backoff(initial=2.0, cap=2.0).delay(5, FixedRandom(1.0)) == 2.0  # initial = cap
    assert Backoff(initial=1.0, cap=8.0, multiplier=1.0).delay(5, FixedRandom(1.0)) == 1.0
    for bad in ({"initial": 0.0}, {"initial": -1.0}, {"initial": 5.0, "cap": 1.0}):
        with pytest.raises(ValueError, match=r"^backoff needs 0 < initial <= cap$"):
            Backoff(**bad)
    with pytest.raises(ValueError, match=r"^backoff multiplier must be >= 1$"):
        Backoff(multiplier=0.99)


async def test_a_sleep_of_zero_or_less_returns_at_once_with_the_stop_state() -> None:
    stop = asyncio.Event()
    assert await sleep_unless(stop, 0) is False
    assert await sleep_unless(stop, -1) is False
    stop.set()
    assert await sleep_unless(stop, 0) is True
    # Under a second is a real (short) sleep, not "at once": a stop during it is seen.
    stop.clear()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await sleep_unless(stop, 0.9) is True


def test_thread_sleep_unless() -> None:
    stop = threading.Event()
    t0 = time.monotonic()
    assert thread_sleep_unless(stop, -5) is False  # negative: no wait at all
    assert thread_sleep_unless(stop, 0.05) is False
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.05, stop.set).start()
    assert thread_sleep_unless(stop, 30) is True
    assert time.monotonic() - t0 < 10


def test_jitter_leaves_the_process_wide_random_state_alone() -> None:
    # A reconnect thread drawing from `random` would shift what a seeded caller (or hypothesis,
    # which checks that state around each example) sees next.
    state = random.getstate()
    delays = {Backoff(initial=1.0, cap=8.0).delay(3) for _ in range(50)}
    assert random.getstate() == state
    assert all(4.0 <= d <= 8.0 for d in delays) and len(delays) > 1  # still jittered


async def test_a_cancel_as_stop_is_set_still_cancels() -> None:
    # On 3.11 asyncio.wait_for returns the result instead of raising when the cancel and the
    # result land in the same loop turn: the cancelled task would run on (a shutdown hangs).
    stop = asyncio.Event()
    after = asyncio.Event()

    async def sleeper() -> None:
        await sleep_unless(stop, 30)
        await after.wait()  # reached only if the cancel was lost

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    stop.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done and task.cancelled()
