"""Placing events on the right day when a gateway's wall clock is wrong (docs/wire.md, Clocks).

Pure functions. Preference order for an event's true time:
1. an anchor for the event's boot (collector time seen by the agent at a monotonic instant,
   learnt from an ack): true = anchor.true_ms + (event.mono - anchor.mono);
2. the event is from the boot that sent the batch: true = received_ms - (sent_mono - event.mono);
3. the wall clock, if it is plausible.
When (1) or (2) agrees with a plausible wall clock within AGREE_MS the wall clock is kept: it is
the more precise reading (no transit delay in it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from shared import limits as L

AGREE_MS = 2 * 60 * 1000
Method = Literal["wall", "anchor", "receive"]


class Correction(NamedTuple):  # a tuple: built once per event on the collector's hot path
    ts_ms: int
    method: Method

    def offset_ms(self, wall_ms: int) -> int:
        return self.ts_ms - wall_ms


def plausible(ts_ms: int, received_ms: int) -> bool:
    return L.MIN_PLAUSIBLE_MS <= ts_ms <= received_ms + L.MAX_FUTURE_SKEW_MS


def correct(
    *,
    wall_ms: int,
    mono: int | None,
    boot: str | None,
    anchors: Mapping[str, tuple[int, int]],
    batch_boot: str | None,
    sent_mono: int | None,
    received_ms: int,
) -> Correction | None:
    """Return the corrected time, or None when nothing trustworthy is known (quarantine)."""
    latest = received_ms + L.MAX_FUTURE_SKEW_MS
    wall_ok = L.MIN_PLAUSIBLE_MS <= wall_ms <= latest
    if mono is not None and boot is not None:
        anchor = anchors.get(boot)
        est: int | None = None
        method: Method = "anchor"
        if anchor is not None:
            est = anchor[1] + (mono - anchor[0])
        elif boot == batch_boot and sent_mono is not None:
            est, method = received_ms - (sent_mono - mono), "receive"
        if est is not None and L.MIN_PLAUSIBLE_MS <= est <= latest:
            if wall_ok and -AGREE_MS <= est - wall_ms <= AGREE_MS:
                return Correction(wall_ms, "wall")
            return Correction(est, method)
    if wall_ok:
        return Correction(wall_ms, "wall")
    return None
