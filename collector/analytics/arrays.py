"""The array tools of the analytics state (state.py) and its file (state_file.py): the numpy
aliases, a growing vocabulary of codes, append-only int arrays, word matrices that grow, read-only
views, and first active days from day bits."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from collector.storage.bitmaps import BLOCK_DAYS

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]
Floats = npt.NDArray[np.float64]
T = TypeVar("T", bound=np.generic)


class Vocab:
    def __init__(self, values: list[str] | None = None) -> None:
        self.values: list[str] = values if values is not None else []
        self._index: dict[str, int] | None = None

    @property
    def index(self) -> dict[str, int]:  # built on first use: a state read from a file may
        if self._index is None:  # never look up a name, and a million take ~0.1 s to index
            self._index = dict(zip(self.values, range(len(self.values)), strict=True))
        return self._index

    def code(self, value: str) -> int:
        index = self.index
        c = index.get(value)
        if c is None:
            c = index[value] = len(self.values)
            self.values.append(value)
        return c


def append(a: Ints, n: int, values: Ints) -> Ints:
    """`a` (first n entries used) with `values` after them, grown by doubling. Entries below n
    are never written again, so a snapshot may hold a view of them."""
    if n + len(values) > len(a):
        grown = np.empty(max(n + len(values), 2 * len(a), 16), np.int64)
        grown[:n] = a[:n]
        a = grown
    a[n : n + len(values)] = values
    return a


def grow(a: Words, rows: int, blocks: int, shift: int) -> Words:
    """A copy with at least `rows` rows and `blocks` columns, old columns moved right by shift."""
    if a.shape[0] >= rows and a.shape[1] == blocks and shift == 0:
        return a
    out = np.zeros((max(rows, 2 * a.shape[0]), blocks), np.uint64)
    out[: a.shape[0], shift : shift + a.shape[1]] = a
    return out


def unpack_row(words: Words) -> Bools:
    """One row of words -> its days (bit k of word b is day 64*b + k)."""
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(as_bytes, bitorder="little").astype(np.bool_)


def frozen(a: npt.NDArray[T]) -> npt.NDArray[T]:
    """A read-only view: a snapshot's arrays cannot be written through it."""
    v = a.view()
    v.flags.writeable = False
    return v


def first_days(act: Words, block0: int) -> Ints:
    """First active day of every row (ordinal), from its lowest set bit; int64 max if none."""
    n = act.shape[0]
    if not act.shape[1]:
        return np.full(n, np.iinfo(np.int64).max, np.int64)
    nz = act != 0
    block = np.argmax(nz, axis=1)
    word = act[np.arange(n), block]
    low = word & (~word + np.uint64(1))  # lowest set bit alone
    bit = np.log2(np.maximum(low, np.uint64(1)).astype(np.float64)).astype(np.int64)
    first = (block0 + block) * BLOCK_DAYS + bit
    return np.where(nz.any(axis=1), first, np.iinfo(np.int64).max)


def writable(a: Words, published: Words) -> Words:
    """`a`, or a copy of it when the published snapshot reads its memory (copy on write)."""
    return a.copy() if np.may_share_memory(a, published) else a
