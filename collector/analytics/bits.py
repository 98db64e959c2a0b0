"""Days kept as bits: 64 days per 64-bit word, bit k of word b is day 64*b + k counted from the
first word's day `lo` (an ordinal). Questions about a day range are a few mask operations per
row, without unpacking days (storage/bitmaps.py writes these words)."""

from __future__ import annotations

import numpy as np

from collector.analytics.arrays import Bools, Ints, Words
from collector.analytics.state import Cube
from collector.storage.bitmaps import BLOCK_DAYS


def unpack(words: Words) -> Bools:
    """(n, blocks) 64-bit words -> (n, blocks * 64) days; bit k of word b is day 64*b + k."""
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little").astype(np.bool_)


def _masks(lo: int, n_blocks: int, start: int, end: int) -> list[tuple[int, np.uint64]]:
    """(block column, mask) pairs selecting the days [start, end] of words whose column 0
    starts on ordinal `lo`; days outside the columns are dropped."""
    a, b = max(start - lo, 0), min(end - lo, n_blocks * BLOCK_DAYS - 1)
    out = []
    for blk in range(a // BLOCK_DAYS, b // BLOCK_DAYS + 1) if a <= b else ():
        lo_bit = max(a - blk * BLOCK_DAYS, 0)
        hi_bit = min(b - blk * BLOCK_DAYS, BLOCK_DAYS - 1)
        out.append((blk, np.uint64(((1 << (hi_bit + 1)) - 1) ^ ((1 << lo_bit) - 1))))
    return out


def bits_between(words: Words, lo: int, start: int, end: int) -> Bools:
    """Per row of `words`: some day in [start, end] (ordinals) is set. No unpacking."""
    out = np.zeros(len(words), np.bool_)
    for blk, mask in _masks(lo, words.shape[1], start, end):
        out |= (words[:, blk] & mask) != 0
    return out


def columns(words: Words) -> list[Words]:
    """The columns of `words`, each contiguous: a request that asks bits_between of many periods
    reads one narrow array per period instead of striding over every row's words."""
    return [np.ascontiguousarray(words[:, k]) for k in range(words.shape[1])]


def bits_between_cols(cols: list[Words], n: int, lo: int, start: int, end: int) -> Bools:
    """bits_between over the n rows of `columns(words)`."""
    masks = _masks(lo, len(cols), start, end)
    if not masks:
        return np.zeros(n, np.bool_)
    blk, mask = masks[0]
    out: Bools = (cols[blk] & mask) != 0
    for blk, mask in masks[1:]:
        out |= (cols[blk] & mask) != 0
    return out


def count_between(words: Words, lo: int, start: int, end: int) -> Ints:
    """Per row of `words`: how many days in [start, end] are set."""
    out = np.zeros(len(words), np.int64)
    for blk, mask in _masks(lo, words.shape[1], start, end):
        out += np.bitwise_count(words[:, blk] & mask)
    return out


def any_between(cube: Cube, words: Words, start: int, end: int) -> Bools:
    """Per row of `words` (the cube's or its features'): some day in [start, end] is set."""
    return bits_between(words, cube.lo, start, end)
