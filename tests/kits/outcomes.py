"""The outcomes report's test oracles (specs/outcomes.md), shared by its unit tests."""

from __future__ import annotations

from itertools import product

from collector.analytics.outcomes import SIGNALS, ScoredOutcome


def brute_force_auc(scores: list[float], positive: list[bool]) -> float | None:
    """The AUC by its definition: the share of (positive, negative) pairs ranked right, ties
    counting one half; None without both kinds."""
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    if not pos or not neg:
        return None
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in product(pos, neg))
    return wins / (len(pos) * len(neg))


def item(retained: bool, score: float, *signals: float) -> ScoredOutcome:
    """An entity's outcome and score; its signals (all four) default to score / 100."""
    sig = signals or (score / 100,) * 4
    return ScoredOutcome(retained, score, dict(zip(SIGNALS, sig, strict=True)))
