"""The PES formulas of specs/pes.md, once: from a segment's counts to its PesResult. Both ways
of counting (cube.aggregate over per-member arrays, pes_table over per-segment counts kept
between requests) end here, so they cannot drift apart in the arithmetic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from collector.analytics.params import PesParams, PesResult, Segment


def pes_of(
    weights: tuple[float, float, float],
    adoption: float | None,
    stickiness: float | None,
    growth: float,
) -> float | None:
    if adoption is None or stickiness is None:
        return None
    w_a, w_s, w_g = weights
    return w_a * adoption + w_s * stickiness + w_g * growth


def daily_ratios(
    num: npt.NDArray[np.float64], den: npt.NDArray[np.float64]
) -> tuple[list[float], list[int]]:
    """Per segment (rows) over the days of P (columns): the sum of num/den over the days with
    den > 0, and how many such days there are. Stickiness is their mean (pes.md)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(den > 0, num / den, 0.0)
    return ratios.sum(axis=1).tolist(), (den > 0).sum(axis=1).tolist()


def pes_result(
    params: PesParams,
    segment: Segment,
    *,
    active: int,
    share_sum: float,
    n_core: int,
    ratio_sum: float,
    days_ok: int,
    new: int,
    recovered: int,
    dropped: int,
    dau: int,
    wau: int,
    mau: int,
    core_features: dict[str, list[str]],
    feature_adoption: Mapping[str, float],
) -> PesResult:
    """Adoption = mean share of the core set used, over the active entities with a core set;
    stickiness = mean daily ratio over the days with a denominator; growth = moved / (moved +
    dropped), 50 when nothing moved; PES = the weighted sum, None without adoption or
    stickiness."""
    adoption = 100.0 * share_sum / n_core if n_core else None
    stick = 100.0 * ratio_sum / days_ok if days_ok else None
    moved = new + recovered
    growth = 100.0 * moved / (moved + dropped) if moved + dropped else 50.0
    return PesResult(
        segment=segment,
        active=active,
        adoption=adoption,
        stickiness=stick,
        growth=growth,
        pes=pes_of(params.weights, adoption, stick, growth),
        new=new,
        recovered=recovered,
        dropped=dropped,
        quick_ratio=moved / dropped if dropped else None,
        dau=dau,
        wau=wau,
        mau=mau,
        core_features=core_features,
        feature_adoption=dict(feature_adoption),
        low_sample=active < params.low_sample_threshold,
    )


def core_features_of(
    types: Sequence[int],
    type_names: Sequence[str],
    vocab: Sequence[str],
    core: npt.NDArray[np.bool_],
) -> dict[str, list[str]]:
    """device type -> its core set (sorted), for the device types of a segment."""
    return {
        type_names[t]: sorted(vocab[j] for j in np.flatnonzero(core[t]).tolist()) for t in types
    }
