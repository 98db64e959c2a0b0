"""Statistics for the outcomes report (specs/outcomes.md): Wilson and Newcombe intervals, and the
AUC as the Mann-Whitney statistic. Pure numpy, no other collector module."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

# The 97.5% point of the standard normal distribution: two-sided 95% intervals.
Z95: Final = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of the proportion k/n; None when n is 0.

    centre = (p + z²/2n) / (1 + z²/n), half width = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²).
    The bounds are exactly 0 for k = 0 and exactly 1 for k = n (the formula gives them up to
    rounding)."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k} n={n}")
    if n == 0:
        return None
    p = k / n
    zz = z * z
    denom = 1 + zz / n
    centre = (p + zz / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + zz / (4 * n * n))
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float] | None:
    """95% interval of p1 - p2 by Newcombe's hybrid score method (method 10 of Newcombe 1998,
    Statist. Med. 17:873-890) from the two Wilson intervals (l1, u1) and (l2, u2):
    D - sqrt((p1 - l1)² + (u2 - p2)²) to D + sqrt((u1 - p1)² + (p2 - l2)²). None when either
    group is empty."""
    w1, w2 = wilson(k1, n1, z), wilson(k2, n2, z)
    if w1 is None or w2 is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = w1, w2
    d = p1 - p2
    return (d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def auc(scores: npt.ArrayLike, positive: npt.ArrayLike) -> float | None:
    """P(score of a positive > score of a negative) + P(equal) / 2 over all (positive, negative)
    pairs: the Mann-Whitney U / (n_pos * n_neg), from mid-ranks in O(n log n). None when all
    outcomes are of one kind. Mid-ranks are multiples of 1/2, so the rank sum is exact."""
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive, dtype=np.bool_)
    if s.shape != pos.shape or s.ndim != 1:
        raise ValueError("scores and positive must be 1-D arrays of one length")
    n_pos = int(np.count_nonzero(pos))
    n_neg = s.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = float(mid_rank[inverse][pos].sum())
    u = rank_sum - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)
