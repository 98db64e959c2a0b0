"""The Fleet page's ingest rate: events stored per second from samples of a cumulative counter."""

from __future__ import annotations

import pytest

from collector.ingest.metrics import RateWindow


def test_no_rate_before_two_samples() -> None:
    w = RateWindow()
    assert (w.rate(), w.points()) == (None, [])
    w.add(10.0, 100)
    assert (w.rate(), w.points()) == (None, [])


def test_rate_over_the_window_and_per_interval() -> None:
    w = RateWindow(window_s=60)
    w.add(0.0, 0)
    w.add(5.0, 50)  # 10/s
    w.add(10.0, 150)  # 20/s
    assert w.rate() == pytest.approx(15.0)
    assert w.points() == [{"ago_s": 5.0, "rate": 10.0}, {"ago_s": 0.0, "rate": 20.0}]
    w.add(70.0, 150)  # idle for a minute: the samples before t=10 left the window
    assert [t for t, _ in w.samples] == [10.0, 70.0]
    assert w.rate() == 0.0 and w.points() == [{"ago_s": 0.0, "rate": 0.0}]


def test_a_counter_that_goes_back_starts_over() -> None:
    w = RateWindow()
    w.add(0.0, 500)
    w.add(1.0, 600)
    w.add(2.0, 10)  # a restarted ingest loop counts from 0 again
    assert w.rate() is None and len(w.samples) == 1


def test_samples_at_the_same_instant_give_no_rate() -> None:
    w = RateWindow()
    w.add(1.0, 5)
    w.add(1.0, 9)
    assert (w.rate(), w.points()) == (None, [])
