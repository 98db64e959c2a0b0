"""The publisher's resend policy (agent.publisher.resend_wait, agent.flights.due_unheard): pure,
on a seeded rng."""

from __future__ import annotations

import random

from agent.flights import _Flight, due_unheard
from agent.publisher import RESEND_CAP_S, resend_wait


def test_first_wait_is_the_ack_timeout_then_doubles_with_jitter() -> None:
    rng = random.Random(3)
    assert resend_wait(0, 3.0, rng) == 3.0
    for level, (lo, hi) in enumerate([(3.0, 6.0), (6.0, 12.0), (12.0, 24.0)], start=1):
        waits = [resend_wait(level, 3.0, rng) for _ in range(200)]
        assert all(lo <= w <= hi for w in waits), level
        assert max(waits) - min(waits) > (hi - lo) / 2  # jittered: a fleet is not in lock-step


def test_wait_is_capped_below_a_minute_and_never_below_the_ack_timeout() -> None:
    rng = random.Random(5)
    assert all(resend_wait(n, 3.0, rng) <= RESEND_CAP_S <= 60 for n in range(1, 200))
    assert all(resend_wait(n, 3.0, rng) >= RESEND_CAP_S / 2 for n in range(6, 200))
    # An ack timeout above the cap is honoured as it is: the cap never shortens it.
    assert all(resend_wait(n, 90.0, rng) == 90.0 for n in range(0, 10))


def test_a_60s_outage_costs_a_few_copies_not_one_per_ack_timeout() -> None:
    # The soak's case: ack_timeout_s = 3, nothing acked for 60 s. Before the backoff every
    # batch went out 21 times (once, then every 3 s).
    rng = random.Random(11)
    for _ in range(100):
        t, sends, level = 0.0, 1, 0
        while (t := t + resend_wait(level, 3.0, rng)) < 60:
            sends, level = sends + 1, level + 1
        assert 4 <= sends <= 7


def test_a_heard_publish_makes_only_the_unheard_flights_due_now() -> None:
    lonely = _Flight(1, 1, deadline=50.0, unheard=True, lonely=3)
    resent = _Flight(2, 2, deadline=40.0, lonely=2)  # resent since: its PUBACK is pending
    waiting = _Flight(3, 3, deadline=30.0)  # heard: waits for its ack
    assert due_unheard([lonely, resent, waiting], now=10.0)
    assert (lonely.deadline, lonely.unheard, lonely.lonely) == (10.0, False, 0)
    assert (resent.deadline, waiting.deadline) == (40.0, 30.0)
    assert not due_unheard([lonely, resent, waiting], now=11.0)  # each goes once, not again
    assert lonely.deadline == 10.0
