"""Bootstrap intervals, bootstrap p-values and Holm's correction for the release engine.

- Interval: 95% percentile bootstrap of the mean over transitions: `resamples` draws of n values
  with replacement, the 2.5th and 97.5th percentiles (numpy's default linear interpolation) of
  the draws' means. One value gives [v, v].
- p-value for Holm (two-sided, from the same draws): `p = min(1, 2 * min(share of draws <= 0,
  share of draws >= 0))`. It is the percentile interval's own test: a 1 - alpha percentile
  interval excludes 0 about when p < alpha. With no draw on one side p is 0.
- Holm over the family of one answer's `did` intervals at family-wise alpha = 5%: sort p
  ascending; the k-th smallest (k from 0) is rejected while p <= alpha / (m - k); the first that
  is not stops the procedure.
- One generator per release and estimate (change, did), seeded from (seed, a CRC-32 of the
  release and the estimate's name), so an interval does not depend on which other releases are
  in the answer; the metrics of that release draw the same transitions in each resample.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
_CHUNK_VALUES = 4_000_000  # resample indices held at once (32 MB of int64)


def row_rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator for one row and estimate, stable across runs and answers."""
    return np.random.default_rng([seed, zlib.crc32("\x00".join(parts).encode())])


def bootstrap_means(values: F64, resamples: int, rng: np.random.Generator) -> F64:
    """(rows, resamples): the means of `resamples` draws of n columns with replacement of a
    (rows, n) array, the same draws for every row (a 1-D array is one row)."""
    table = np.atleast_2d(values)
    rows, n = table.shape
    out = np.empty((rows, resamples), np.float64)
    step = max(1, _CHUNK_VALUES // max(n, 1))
    for s in range(0, resamples, step):
        k = min(step, resamples - s)
        idx = rng.integers(0, n, size=(k, n))
        for r in range(rows):  # np.take per row: a 2-D fancy gather is ~10x slower
            out[r, s : s + k] = np.take(table[r], idx).mean(axis=1)
    return out


def percentile_interval(means: F64) -> tuple[float, float]:
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_p(means: F64) -> float:
    """Two-sided bootstrap p-value of "mean = 0" (see the module docstring)."""
    below = float(np.mean(means <= 0.0))
    above = float(np.mean(means >= 0.0))
    return min(1.0, 2.0 * min(below, above))


def excludes_zero(interval: tuple[float, float]) -> bool:
    return interval[0] > 0.0 or interval[1] < 0.0


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise level alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    reject = [False] * m
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (m - rank):
            break
        reject[i] = True
    return reject
