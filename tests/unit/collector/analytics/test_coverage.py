"""The bootstrap's intervals mean what they say: on simulated fleets whose true adoption (and so
the true differences) is known by construction, the 95% intervals of compare() cover the truth
about 95% of the time, and are as wide as a 95% interval of that sampling error should be.

Each device is active in P and uses each of the two core features with probability q, so its
adoption share is 0, 1/2 or 1 with mean q: a configuration's true adoption is 100 q, its sampling
variance 100^2 q (1 - q) / (2 n). Every fleet is drawn from a fixed seed, so the test is
deterministic; the tolerances are wide enough that a run with other seeds would fail by chance
with a probability far below one in a million (five binomial standard deviations for the
coverage), and still narrow enough that 90% intervals (or 99%) fail the width check by far.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta

from collector.analytics.compare import compare, parse_config
from collector.analytics.cube import needed_range
from collector.analytics.params import PesParams
from tests.kits.analytics import Event, state_from_events

P = PesParams(date(2026, 3, 8), date(2026, 3, 21), core_features={"*": ["a", "b"]})
Q = {"1.0": 0.3, "1.1": 0.5, "1.2": 0.6, "1.3": 0.85}  # per firmware: P(device uses a feature)
BASELINE = "1.0"
DEVICES = 30  # per configuration
FLEETS = 120
Z95 = 1.959964


def _event(device: str, day: int, kind: str, feature: str | None, fw: str, n: int) -> Event:
    d = P.start + timedelta(days=day)
    return {
        "id": f"{device}-{n}",
        "device_id": device,
        "account_id": "acme",
        "device_type": "press-x",
        "firmware_version": fw,
        "kind": kind,
        "feature": feature,
        "ts": datetime(d.year, d.month, d.day, 12).isoformat() + "Z",
    }


def simulated_fleet(rng: random.Random) -> list[Event]:
    days = (P.end - P.start).days + 1
    out: list[Event] = []
    for fw, q in Q.items():
        for k in range(DEVICES):
            dev = f"{fw}-{k}"
            out.append(_event(dev, rng.randrange(days), "session_start", None, fw, 0))
            out += [
                _event(dev, rng.randrange(days), "feature_use", f, fw, i)
                for i, f in enumerate(("a", "b"), start=1)
                if rng.random() < q
            ]
    return out


def _se(q: float) -> float:
    """Standard error of a configuration's adoption (in points) over DEVICES devices."""
    return 100 * math.sqrt(q * (1 - q) / (2 * DEVICES))


def test_95_percent_intervals_cover_the_true_adoption_and_difference() -> None:
    configs = [parse_config(fw, f"firmware_version:{fw}") for fw in Q]
    covered = {"value": 0, "delta": 0}
    trials = {"value": 0, "delta": 0}
    width_ratios: list[float] = []
    values: dict[str, list[float]] = {fw: [] for fw in Q}
    for seed in range(FLEETS):
        cube = state_from_events(simulated_fleet(random.Random(seed))).view(*needed_range(P))
        rows = compare(cube, configs, P, "device", baseline=BASELINE, resamples=300, seed=seed)
        for r in rows:
            if r["metric"] != "adoption":
                continue
            fw = r["config"]
            truth = 100 * Q[fw]
            values[fw].append(r["value"])
            trials["value"] += 1
            covered["value"] += r["ci_low"] <= truth <= r["ci_high"]
            width_ratios.append((r["ci_high"] - r["ci_low"]) / (2 * Z95 * _se(Q[fw])))
            if fw != BASELINE:
                true_delta = truth - 100 * Q[BASELINE]
                trials["delta"] += 1
                covered["delta"] += r["delta_low"] <= true_delta <= r["delta_high"]
                se = math.hypot(_se(Q[fw]), _se(Q[BASELINE]))
                width_ratios.append((r["delta_high"] - r["delta_low"]) / (2 * Z95 * se))
    # The simulation is what it claims: the point values centre on the truth.
    for fw, vs in values.items():
        assert abs(sum(vs) / len(vs) - 100 * Q[fw]) < 5 * _se(Q[fw]) / math.sqrt(len(vs))
    for kind in ("value", "delta"):
        rate, n = covered[kind] / trials[kind], trials[kind]
        # Five standard deviations of a binomial proportion at 95%: 0.05 at n = 360 intervals.
        # The deltas share their baseline within a fleet, so their count is an overstatement
        # of independent trials; the tolerance still holds for n / 3.
        tolerance = 5 * math.sqrt(0.95 * 0.05 / (n if kind == "value" else n / 3))
        assert abs(rate - 0.95) <= tolerance, f"{kind} intervals cover {rate:.3f} of {n}"
    # Width: a 95% interval spans about 2 x 1.96 standard errors. A 90% interval would be 0.84
    # of that, a 99% one 1.31; the mean ratio over ~700 intervals varies by about 0.01.
    mean_ratio = sum(width_ratios) / len(width_ratios)
    assert 0.92 <= mean_ratio <= 1.08, f"intervals are {mean_ratio:.3f} x the 95% width"
