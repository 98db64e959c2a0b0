import asyncio
import random
import time

import pytest

from shared.retry import Backoff, sleep_unless


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
