"""Per-segment state of one (group_by, entity, filters) kept between requests, brought up to
date from each new analytics snapshot at the cost of what changed in it.

What a PES table needs that does not depend on the period is kept here: which combinations
form each (segment, entity) member, the members' activity words over all history, and per
segment and day the number of members active on that day (DAU), in the 7 days (WAU) and in
the 30 days (MAU) ending on it. The stickiness of any period is then a lookup of those counts
instead of L window operations over every member, and a trend shares them over its periods.

The counts are maintained, not memoised per answer: `update` compares the members' words with
the new snapshot's and adds the difference of the changed members' window bits, so a refresh
that stored 50 late events costs a few small histograms. New combinations (a device registering,
a firmware upgrade) are taken in the same way: grouping.extend inserts their new members and
segments where a build would put them, what is kept per member and per segment moves with them
(an insert and a gather), and the new members then count as changed members whose old words
were empty. Only a new 64-day history block (once in 64 days), or more new combinations than a
quarter of the old ones, rebuilds the grouping from the snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from collector.analytics.arrays import Ints, Words
from collector.analytics.feature_pairs import FeaturePairs, Grown
from collector.analytics.grouping import Grouping, extend, grouping
from collector.analytics.params import MAU_DAYS, WAU_DAYS
from collector.analytics.state import Snapshot
from collector.storage.bitmaps import BLOCK_DAYS

WIDTHS = (1, WAU_DAYS, MAU_DAYS)  # the windows whose per-day counts are kept
_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
_CHUNK = 1 << 16  # rows per histogram pass: bounds the temporary arrays
_MAX_HIST = 1 << 22  # histogram bins (32 MB) above which day_counts adds unpacked rows
# Rows per segment below which day_counts adds unpacked rows (n x days numbers) rather than
# fill a histogram (segments x bytes x 256 bins, then a product with 256 x 8): where the two
# cost about the same, measured at 100 and 160 segments (docs/performance.md).
_ROWS_PER_SEG = 64
GROWTH_REBUILD = 0.25  # new combinations above this share of the old ones: rebuild instead


def shifted(words: Words, k: int) -> Words:
    """Each row's bit string moved k days later (0 < k < 64); bits past the last column drop."""
    out = words << np.uint64(k)
    out[:, 1:] |= words[:, :-1] >> np.uint64(BLOCK_DAYS - k)
    return out


def window_words(words: Words, width: int) -> Words:
    """Bit d set when some bit of [d - width + 1, d] is: OR of the shifts 0..width-1, built by
    doubling (shifts [0, s) at each step) and one last overlapping step."""
    out, s = words.copy(), 1
    while 2 * s <= width:
        out |= shifted(out, s)
        s *= 2
    if s < width:
        out |= shifted(out, width - s)
    return out


def day_counts(words: Words, seg: Ints, n_seg: int) -> Ints:
    """(n_seg, 64 * blocks): per segment and day, the rows of `words` with that day's bit set.
    No per-row or per-day Python, no (rows x days) array of the whole input. Two ways, by
    which touches fewer numbers: for many rows per segment (a build) a histogram of (segment,
    byte column, byte value) per chunk of rows, then bits per byte value; for few (a refresh's
    changed members, or many segments) the rows' bits unpacked per chunk and summed per
    segment. The histogram's cost does not shrink with the rows: its n_seg x bytes x 256 bins
    cost ~10 ms for 160 segments, each time a refresh changes one member."""
    n, n_bytes = words.shape[0], words.shape[1] * 8
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    if n < _ROWS_PER_SEG * n_seg or n_seg * n_bytes * 256 > _MAX_HIST:
        out = np.zeros((n_seg, n_bytes * 8), np.int64)
        for a in range(0, n, _CHUNK):
            s, rows = seg[a : a + _CHUNK], as_bytes[a : a + _CHUNK]
            if (s[1:] < s[:-1]).any():  # members come in segment order; others are sorted
                order = np.argsort(s, kind="stable")
                s, rows = s[order], rows[order]
            starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
            bits = np.unpackbits(rows, axis=1, bitorder="little")
            out[s[starts]] += np.add.reduceat(bits, starts, axis=0, dtype=np.int64)
        return out
    hist = np.zeros(n_seg * n_bytes * 256, np.int64)
    col = np.arange(n_bytes, dtype=np.int64) * 256
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        key = (seg[a:b, None] * (n_bytes * 256) + col) + as_bytes[a:b]
        hist += np.bincount(key.ravel(), minlength=len(hist))
    per_byte = hist.reshape(n_seg * n_bytes, 256) @ _BITS.astype(np.int64)
    return per_byte.reshape(n_seg, n_bytes * 8)


@dataclass(slots=True)
class SegmentState:
    """One grouping's members and per-segment day counts, as of the snapshot `snap`."""

    group_by: tuple[str, ...]
    entity: str
    filters: tuple[tuple[str, str], ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    snap: Snapshot | None = None
    group: Grouping | None = None
    words: Words = field(default_factory=lambda: np.zeros((0, 0), np.uint64))
    first: Ints = field(default_factory=lambda: np.zeros(0, np.int64))
    _f_member: Grown = field(default_factory=lambda: Grown(np.zeros(0, np.int64)))
    pairs: FeaturePairs | None = None  # distinct (member, feature) pairs of the feature rows
    # width -> (segments, 64 * (blocks + 1)) counts; day column 0 is the snapshot's block0;
    # one block more than the words, where the windows of the last days spill over.
    counts: dict[int, Ints] = field(default_factory=dict)
    rebuilds: int = 0  # how often the grouping was rebuilt (tests and the bench read it)
    extends: int = 0  # how often new combinations were taken in without a rebuild
    growth_rebuild: float = GROWTH_REBUILD  # tests raise it to take in every growth in place

    @property
    def f_member(self) -> Ints:
        """Member of each feature row of the snapshot, -1 when filtered out."""
        return self._f_member.a

    @property
    def wlo(self) -> int:
        """Ordinal of bit 0 of column 0 of `words` and of the counts."""
        return self.snap.block0 * BLOCK_DAYS if self.snap is not None else 0

    def update(self, snap: Snapshot) -> None:
        """Bring everything to `snap` (call with `lock` held)."""
        old = self.snap
        if old is snap:
            return
        if (
            old is None
            or self.group is None
            or snap.block0 != old.block0
            or snap.act.shape[1] != old.act.shape[1]
            or len(snap.first) < len(old.first)
            or len(snap.first) - len(old.first) > self.growth_rebuild * len(old.first)
        ):
            self._rebuild(snap)
            return
        if snap.codes is not old.codes:
            self._extend(snap, len(old.first))
        group = self.group
        words = group.reduce(snap.act, np.bitwise_or)
        changed = np.flatnonzero((words != self.words).any(axis=1))
        if 2 * len(changed) > len(words):
            self.counts = self._counts(words, group.seg)
        elif len(changed):
            for w in WIDTHS:
                self.counts[w] += self._counts_of(words[changed], group.seg[changed], w)
                self.counts[w] -= self._counts_of(self.words[changed], group.seg[changed], w)
        self.words = words
        if snap.first is not old.first:
            self.first = group.reduce(snap.first.view(np.uint64), np.minimum).view(np.int64)
        if snap.f_combo is not old.f_combo:
            self._feature_pairs(snap)
        self.snap = snap

    def _rebuild(self, snap: Snapshot) -> None:
        self.group = group = grouping(snap, self.group_by, self.entity, dict(self.filters))
        self.words = group.reduce(snap.act, np.bitwise_or)
        # int64 first days are >= 0 (ordinals) or int64 max: their uint64 order is the same.
        self.first = group.reduce(snap.first.view(np.uint64), np.minimum).view(np.int64)
        self.pairs = None
        self._feature_pairs(snap)
        self.counts = self._counts(self.words, group.seg)
        self.snap = snap
        self.rebuilds += 1

    def _extend(self, snap: Snapshot, n_old: int) -> None:
        """Take in the combinations after the first n_old: the grouping extended, the members'
        words, first days and feature rows renumbered, zero day counts for new segments. The
        caller then diffs the words as for any refresh: a new member's old words are empty."""
        assert self.group is not None
        self.group, growth = extend(self.group, snap, n_old, self.group_by, self.entity,
                                    dict(self.filters))  # fmt: skip
        self.extends += 1
        remap, n_mem = growth.remap, len(self.group.seg)
        if growth.added:
            words = np.zeros((n_mem, self.words.shape[1]), np.uint64)
            words[remap] = self.words
            first = np.full(n_mem, np.iinfo(np.int64).max, np.int64)
            first[remap] = self.first
            self.words, self.first = words, first
        if growth.added and len(remap):  # (no old members: no feature row has one)
            f_member = self._f_member.a
            f_member[:] = np.where(f_member >= 0, remap[np.maximum(f_member, 0)], -1)
        if (growth.added or growth.retyped) and len(remap) and self.pairs is not None:
            # Also when only types changed: the candidates' fixed core sets are checked then.
            self.pairs.renumber(remap if growth.added else None)
        if len(growth.seg_at):
            self.counts = {w: np.insert(c, growth.seg_at, 0, axis=0)
                           for w, c in self.counts.items()}  # fmt: skip

    def _feature_pairs(self, snap: Snapshot) -> None:
        """Members of the feature rows and their (member, feature) pairs: appended to when
        only new feature rows came (the state appends them), else rebuilt."""
        assert self.group is not None
        old = self._f_member.n
        if self.pairs is not None and len(snap.f_combo) >= old:
            self._f_member.append(self.group.combo_member[snap.f_combo[old:]])
            if self.pairs.extend(self.f_member, snap.f_feat):
                return
        self._f_member = Grown(self.group.combo_member[snap.f_combo], spare=1 / 16)
        self.pairs = FeaturePairs(self.f_member, snap.f_feat)

    def _counts(self, words: Words, seg: Ints) -> dict[int, Ints]:
        return {w: self._counts_of(words, seg, w) for w in WIDTHS}

    def _counts_of(self, words: Words, seg: Ints, width: int) -> Ints:
        padded = np.zeros((words.shape[0], words.shape[1] + 1), np.uint64)
        padded[:, : words.shape[1]] = words
        n_seg = len(self.group.segments) if self.group is not None else 0
        return day_counts(window_words(padded, width) if width > 1 else padded, seg, n_seg)

    def counts_between(self, width: int, a: int, b: int) -> Ints:
        """(segments, b - a + 1): the members active in the `width` days ending on each day of
        [a, b] (ordinals); zero outside the kept days (there is no activity there, and the
        extra block holds every window that reaches past the last day)."""
        counts = self.counts[width]
        out = np.zeros((counts.shape[0], b - a + 1), np.int64)
        lo, hi = max(a, self.wlo), min(b, self.wlo + counts.shape[1] - 1)
        if lo <= hi:
            out[:, lo - a : hi - a + 1] = counts[:, lo - self.wlo : hi - self.wlo + 1]
        return out


class SegmentStates:
    """The states of the groupings recently asked for (least recently used dropped first)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._states: OrderedDict[tuple[object, ...], SegmentState] = OrderedDict()

    def get(self, group_by: Sequence[str], entity: str, filters: Mapping[str, str]
            ) -> SegmentState:  # fmt: skip
        key = (tuple(group_by), entity, tuple(sorted(filters.items())))
        with self._lock:
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = SegmentState(tuple(group_by), entity, key[2])
                while len(self._states) > self.size:
                    self._states.popitem(last=False)
            self._states.move_to_end(key)
            return state
