"""Retry policy as data: capped exponential backoff with jitter, on the monotonic clock."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass

# Jitter draws from a generator of its own, never from the process-wide `random` state: a
# reconnect thread drawing from that state would change what a seeded caller (or hypothesis,
# which checks the global state around every example) sees next, from another thread.
_jitter = random.Random()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number `attempt` (0-based): min(cap, initial * multiplier**attempt),
    jittered into [delay/2, delay] so that a fleet that lost the same broker does not come back
    in lock-step. The cap is low on purpose: a gateway that is back online must drain in seconds,
    not wait minutes for its next try."""

    initial: float = 0.5
    cap: float = 10.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap):
            raise ValueError("backoff needs 0 < initial <= cap")
        if self.multiplier < 1:
            raise ValueError("backoff multiplier must be >= 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        exp = min(attempt, 64)  # avoids float overflow; the cap applies long before
        base = min(self.cap, self.initial * self.multiplier**exp)
        r = (rng or _jitter).random()
        return base / 2 + base / 2 * r


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; return True at once if `stop` is set (shutdown interrupts sleeps)."""
    if seconds <= 0:
        return stop.is_set()
    try:
        # Not wait_for: on 3.11 it swallows a cancel that lands as `stop` is set.
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


def thread_sleep_unless(stop: threading.Event, seconds: float) -> bool:
    """The same for code on a plain thread."""
    return stop.wait(max(0.0, seconds))
