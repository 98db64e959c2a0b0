"""The bucketed bootstrap of compare: its intervals cover the true difference at the nominal
rate on simulated fleets, agree with the exact (per-entity) bootstrap, and leave the point
values alone.

The fleets (tests/kits/simfleet.py) have a known difference between firmware 2.0 and 2.1; the
truth is the metric on a fleet of 200,000 devices of the same design. Seeds are fixed; the
tolerances are set so that a correct method fails them with a probability far below 1e-5
(binomial tails, see each test)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from collector.analytics.compare import METRICS, _units, compare, parse_config, unit_sums
from collector.analytics.cube import needed_range
from collector.analytics.params import PesParams
from collector.analytics.state import Cube, Snapshot
from tests.kits.simfleet import END, FEATURES, simulated_fleet

P = PesParams(END - timedelta(days=13), END, core_features={"*": list(FEATURES)})
CONFIGS = [parse_config("a", "firmware_version:2.0"), parse_config("b", "firmware_version:2.1")]
Rows = dict[tuple[str, str], dict[str, Any]]


def cube_of(snapshot: Snapshot) -> Cube:
    return snapshot.view(*needed_range(P))


def run(cube: Cube, **kw: Any) -> Rows:
    rows = compare(cube, CONFIGS, P, "device", baseline="a", **kw)
    return {(r["config"], r["metric"]): r for r in rows}


@pytest.fixture(scope="module")
def truth() -> Rows:
    return run(cube_of(simulated_fleet(np.random.default_rng(0), 200_000)), resamples=0)


def test_the_design_has_a_real_difference(truth: Rows) -> None:
    # Otherwise covering it would say little: every metric but growth moves, by a margin.
    for metric in ("pes", "adoption", "stickiness"):
        assert truth[("b", metric)]["delta"] > 1.0, truth[("b", metric)]


def test_bucketed_intervals_cover_the_truth_at_the_nominal_rate(truth: Rows) -> None:
    """200 fleets of 4,000 devices, 200 buckets of ~20 entities, 95% intervals. Coverage of a
    correct method is ~0.95 (a little less: the truth itself is an estimate, with a standard
    error 0.14 of a fleet's), so the count of covering intervals is ~Binomial(200, 0.95):
    mean 190, sd 3.1. The bound 174 (0.87) is 5 sd below: P(fail) < 1e-6 per metric. An
    interval built as if the buckets were single entities would be ~sqrt(20) too narrow
    (coverage ~0.35), and ignoring the pairing of upgraded devices shifts the deltas' width."""
    fleets, covered = 200, dict.fromkeys([(c, m) for c in ("a", "b") for m in METRICS], 0)
    for k in range(fleets):
        rows = run(
            cube_of(simulated_fleet(np.random.default_rng(1000 + k), 4000)),
            resamples=400,
            seed=k,
            buckets=200,
        )
        for metric in METRICS:
            a, b = rows[("a", metric)], rows[("b", metric)]
            covered[("a", metric)] += a["ci_low"] <= truth[("a", metric)]["value"] <= a["ci_high"]
            covered[("b", metric)] += (
                b["delta_low"] <= truth[("b", metric)]["delta"] <= b["delta_high"]
            )
    rates = {key: n / fleets for key, n in covered.items()}
    assert all(rate >= 0.87 for rate in rates.values()), rates


def test_bucketed_intervals_agree_with_the_exact_bootstrap() -> None:
    """Against the per-entity bootstrap on the same fleets of 20,000 devices (2,000 buckets
    of ~10): each interval's width within 15%, each end within a fifth of the exact width.
    Both are Monte Carlo estimates from 1,000 resamples (each end moves by ~3% of the width
    between seeds), so the bounds are ~5 of their sd away."""
    for k in range(3):
        cube = cube_of(simulated_fleet(np.random.default_rng(50 + k), 20_000))
        exact = run(cube, resamples=1000, seed=k, buckets=None)
        bucketed = run(cube, resamples=1000, seed=k)
        for key, e in exact.items():
            b = bucketed[key]
            ends = ("ci_low", "ci_high") if key[0] == "a" else ("delta_low", "delta_high")
            width = e[ends[1]] - e[ends[0]]
            assert width > 0, (key, e)
            assert b[ends[1]] - b[ends[0]] == pytest.approx(width, rel=0.15), (key, e, b)
            for end in ends:
                assert abs(b[end] - e[end]) <= 0.2 * width, (key, end, e, b)


def test_buckets_change_the_intervals_only() -> None:
    cube = cube_of(simulated_fleet(np.random.default_rng(7), 3000))
    exact = run(cube, resamples=100, buckets=None)
    for buckets in (1, 50, 2000):
        rows = run(cube, resamples=100, buckets=buckets)
        for key, r in rows.items():
            for field in ("value", "delta", "active", "entities", "low_sample"):
                assert r[field] == exact[key][field], (buckets, key, field)
    # Up to `buckets` entities each is its own bucket: the exact bootstrap, draw for draw.
    assert run(cube, resamples=100, buckets=10_000) == exact
    # A single bucket: every resample is the data itself, zero-width intervals.
    one = run(cube, resamples=50, buckets=1)[("b", "pes")]
    assert one["delta_low"] == pytest.approx(one["delta_high"], abs=1e-3)


def test_units_deal_entities_into_buckets_of_equal_size() -> None:
    unit, units = _units(10_007, 100, np.random.default_rng(3))
    assert units == 100
    sizes = np.bincount(unit, minlength=units)
    assert sizes.min() == 100 and sizes.max() == 101 and sizes.sum() == 10_007
    again, _ = _units(10_007, 100, np.random.default_rng(3))
    assert (again == unit).all()
    assert (_units(7, 100, np.random.default_rng(3))[0] == np.arange(7)).all()
    with pytest.raises(ValueError, match="buckets"):
        _units(10, 0, np.random.default_rng(3))


@pytest.mark.parametrize("seed", range(5))
def test_unit_sums_by_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    units = 12
    for rows in (0, 1, 5, 40):
        # Units drawn from the middle only: empty units first, between and last.
        unit = np.sort(rng.integers(2, units - 2, rows)).astype(np.int64)
        x = rng.random((rows, 7)) < 0.5
        want = np.zeros((units, 7), np.int64)
        np.add.at(want, unit, x)
        assert (unit_sums(x, unit, units) == want).all(), (rows, unit)


def test_as_many_entities_as_buckets_is_still_the_exact_bootstrap() -> None:
    # n == buckets: each entity its own unit, in order, and no draw from the generator (so the
    # resamples that follow are those of the exact bootstrap, draw for draw).
    rng = np.random.default_rng(5)
    unit, units = _units(100, 100, rng)
    assert units == 100 and unit.tolist() == list(range(100))
    assert rng.random() == np.random.default_rng(5).random()
    with pytest.raises(ValueError, match=r"^buckets must be at least 1$"):
        _units(1, 0, np.random.default_rng(3))
