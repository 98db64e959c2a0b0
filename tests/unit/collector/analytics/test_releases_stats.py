"""The release engine's statistics (collector.analytics.releases_stats), by hand: the seeded
generators, the bootstrap of means, the percentile interval, the bootstrap p-value and Holm."""

from __future__ import annotations

import sys
import zlib

import numpy as np
import pytest

from collector.analytics.releases_stats import (
    bootstrap_means,
    bootstrap_p,
    excludes_zero,
    holm,
    percentile_interval,
    row_rng,
)


def test_row_generators_are_seeded_by_seed_and_a_crc_of_the_parts() -> None:
    # Documented so an interval is reproducible across runs and versions: (seed, CRC-32 of the
    # parts joined by NUL).
    want = np.random.default_rng([7, zlib.crc32(b"r1\x00did")]).integers(0, 10**9, 5)
    assert list(row_rng(7, "r1", "did").integers(0, 10**9, 5)) == list(want)
    assert list(row_rng(7, "ab", "c").integers(0, 10**9, 5)) != list(
        row_rng(7, "a", "bc").integers(0, 10**9, 5)
    )
    assert list(row_rng(8, "r1", "did").integers(0, 10**9, 5)) != list(want)


def test_one_value_means_itself_and_rows_share_their_draws() -> None:
    rng = np.random.default_rng(1)
    assert bootstrap_means(np.array([4.0]), 5, rng).tolist() == [[4.0] * 5]
    base = np.array([1.0, 2.0, 3.0, 10.0])
    out = bootstrap_means(np.stack([base, 3 * base, base + 1]), 200, np.random.default_rng(2))
    assert out.shape == (3, 200)
    # The same transitions drawn for every row: the rows' means keep their relation exactly.
    assert np.allclose(out[1], 3 * out[0]) and np.allclose(out[2], out[0] + 1)
    assert out.min() >= 1.0 and out[0].max() <= 10.0
    assert len(set(out[0].tolist())) > 10  # resampled, not the mean repeated


def test_means_of_two_values_follow_the_binomial() -> None:
    # Means of 2 draws from {0, 1}: 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4.
    out = bootstrap_means(np.array([0.0, 1.0]), 20_000, np.random.default_rng(3))[0]
    shares = [float(np.mean(out == v)) for v in (0.0, 0.5, 1.0)]
    assert set(out.tolist()) == {0.0, 0.5, 1.0}
    # 5 standard deviations of a share over 20,000 draws is 0.018 at most.
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.018)


def _plain_means(table: np.ndarray, resamples: int, seed: int) -> list[list[float]]:
    """The bootstrap written plainly: all draws at once, the same for every row."""
    idx = np.random.default_rng(seed).integers(0, table.shape[1], size=(resamples, table.shape[1]))
    return [table[r][idx].mean(axis=1).tolist() for r in range(table.shape[0])]


def test_the_means_are_the_plain_bootstrap_whatever_the_chunking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chunking bounds memory only: the draws, and so the means, are those of the plain form.
    values = np.stack([np.arange(50, dtype=np.float64) ** 1.5, np.arange(50) % 7 * 1.0])
    want = _plain_means(values, 37, 4)
    assert bootstrap_means(values, 37, np.random.default_rng(4)).tolist() == want
    module = sys.modules[bootstrap_means.__module__]
    for chunk in (3 * 50 + 1, 1):  # 3 resamples per chunk; fewer values than one resample
        monkeypatch.setattr(module, "_CHUNK_VALUES", chunk)
        assert bootstrap_means(values, 37, np.random.default_rng(4)).tolist() == want


def test_percentile_interval_is_the_2_5th_to_97_5th_percentile() -> None:
    # 0.0, 0.1, ..., 100.0: linear interpolation puts the 2.5th percentile at index 25.
    means = np.arange(1001) / 10
    assert percentile_interval(means) == pytest.approx((2.5, 97.5), abs=1e-12)
    assert percentile_interval(np.array([3.0])) == (3.0, 3.0)


@pytest.mark.parametrize(
    ("draws", "p"),
    [
        ([-1.0] * 30 + [1.0] * 970, 0.06),  # 3% at or below 0
        ([-1.0, 1.0, 1.0, 1.0], 0.5),
        ([-1.0, 0.0, 1.0, 1.0], 1.0),  # zeros count on both sides: capped at 1
        ([0.0] * 10, 1.0),
        ([1.0] * 100, 0.0),  # no draw on one side
        ([-2.0] * 100, 0.0),
    ],
)
def test_bootstrap_p_by_hand(draws: list[float], p: float) -> None:
    assert bootstrap_p(np.array(draws)) == pytest.approx(p)


def test_excludes_zero_needs_both_ends_on_one_side() -> None:
    assert excludes_zero((0.1, 1.0)) and excludes_zero((-1.0, -0.1))
    assert not excludes_zero((0.0, 1.0)) and not excludes_zero((-1.0, 0.0))
    assert not excludes_zero((-1.0, 1.0))


def test_holm_at_the_thresholds() -> None:
    # m = 2: the smallest needs p <= 0.025, the next p <= 0.05; at the thresholds, rejected.
    assert holm([0.025, 0.05]) == [True, True]
    assert holm([0.0251, 0.001]) == [True, True]  # 0.001 <= 0.025, then 0.0251 <= 0.05
    assert holm([0.02, 0.0501]) == [True, False]
    assert holm([0.05, 0.0251]) == [False, False]  # the smallest fails: the procedure stops
    assert holm([0.01, 0.02], alpha=0.01) == [False, False]
    assert holm([0.005, 0.01], alpha=0.01) == [True, True]
    # Ties keep their order: the first of equal p-values is tested first.
    assert holm([0.03, 0.03, 0.001]) == [False, False, True]
