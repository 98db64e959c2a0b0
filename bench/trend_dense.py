"""The 12-week trend over a history as long as the trend, for the growth suite.

The growth suite's fleets have 14 days of history (90 days of a million devices would be ~110
million events to generate), so 10 of the trend's 13 weeks have no activity and cost the trend
next to nothing. The goal speaks of 90 days. Here the filled store's snapshot is made as long as
the trend: its last 14 days of activity and feature use are copied back in steps of 14 days to
cover 12 weeks and their previous periods (each earlier copy keeps a random 80% of the
combinations, the same ones for their feature rows, so members come, go and come back and
every week has new, recovered and dropped members). Measured on it: the warm trend
(trend_tables on a SegmentState kept up to date with that snapshot, as a request computes it),
and the previous path's trend on the same snapshot, whose rows must be the same.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from datetime import timedelta

import numpy as np

from bench.query import END, SETTINGS
from collector.analytics.arrays import Bools, Words
from collector.analytics.pes_table import trend_tables
from collector.analytics.segments import SegmentState
from collector.analytics.state import Snapshot
from collector.analytics.trend import periods
from collector.reports import make_query
from collector.reports.query import result_row
from collector.reports.tables import trend_rows_previous
from collector.storage.bitmaps import BLOCK_DAYS

HISTORY = 14  # days of the growth suite's fleets
COPIES = 9  # 9 x 14 = 126 days: the 12 weeks, their previous periods and a month before
KEEP = 0.8
_CHUNK = 1 << 18  # rows unpacked at a time


def _days(words: Words, first_day: int, lo: int, n: int) -> Bools:
    """(rows, n) days [lo, lo + n) of words whose column 0 starts on ordinal first_day."""
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little").astype(np.bool_)
    return bits[:, lo - first_day : lo - first_day + n]


def _copied(words: Words, snap: Snapshot, kept: list[Bools], block0: int, blocks: int) -> Words:
    end = END.toordinal()
    out = np.zeros((len(words), blocks), np.uint64)
    for a in range(0, len(words), _CHUNK):
        src = _days(words[a : a + _CHUNK], snap.block0 * BLOCK_DAYS, end - HISTORY + 1, HISTORY)
        days = np.zeros((len(src), blocks * BLOCK_DAYS), np.bool_)
        for c, keep in enumerate(kept):
            at = end - HISTORY * (c + 1) + 1 - block0 * BLOCK_DAYS
            days[:, at : at + HISTORY] |= src & keep[a : a + _CHUNK, None]
        packed = np.packbits(days, axis=1, bitorder="little")
        out[a : a + _CHUNK] = packed.view("<u8").astype(np.uint64)
    return out


def densify(snap: Snapshot, seed: int = 18) -> Snapshot:
    """The snapshot with its last HISTORY days copied back COPIES - 1 times (see above)."""
    rng = np.random.default_rng(seed)
    n = len(snap.first)
    kept = [np.ones(n, np.bool_)] + [rng.random(n) < KEEP for _ in range(COPIES - 1)]
    block0 = (END.toordinal() - HISTORY * COPIES + 1) // BLOCK_DAYS
    blocks = END.toordinal() // BLOCK_DAYS - block0 + 1
    act = _copied(snap.act, snap, kept, block0, blocks)
    f_words = _copied(snap.f_words, snap, [k[snap.f_combo] for k in kept], block0, blocks)
    first = np.full(n, np.iinfo(np.int64).max, np.int64)
    for b in reversed(range(blocks)):  # the lowest set bit of the earliest non-zero word
        w = act[:, b]
        nz = np.flatnonzero(w)
        low = w[nz] & (~w[nz] + np.uint64(1))
        first[nz] = (block0 + b) * BLOCK_DAYS + np.log2(low.astype(np.float64)).astype(np.int64)
    return dataclasses.replace(snap, block0=block0, act=act, first=first, f_words=f_words)


def dense_trend_figures(snap: Snapshot) -> dict[str, float]:
    """trend_dense (median of 3 warm requests) and trend_dense_previous (ms)."""
    dense = densify(snap)
    q = make_query(SETTINGS, start=END - timedelta(days=83), end=END, group_by=None)
    spans, template = periods(q.start, q.end, "week"), q.params(SETTINGS)
    st = SegmentState(tuple(q.group_by), q.entity, tuple(sorted(dict(q.filters).items())))
    st.update(dense)
    took = []
    for _ in range(4):  # the first builds the kept candidates, as the first request does
        t0 = time.perf_counter()
        rows = trend_tables(st, dense, spans, template)
        took.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    previous = trend_rows_previous(dense, q, spans, template)
    previous_ms = (time.perf_counter() - t0) * 1000
    warm = [{"period_start": a.isoformat(), "period_end": b.isoformat(),
             **result_row(q.group_by, r)} for a, b, r in rows]  # fmt: skip
    assert warm == previous, "the previous path's trend over the long history is the same"
    assert len({r["period_start"] for r in warm}) == len(spans), "every week has rows"
    return {"trend_dense": statistics.median(took[1:]), "trend_dense_previous": previous_ms}
