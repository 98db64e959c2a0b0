"""Per-segment state of one (group_by, entity, filters) kept between requests, brought up to
date from each new analytics snapshot at the cost of what changed in it.

What a PES table needs that does not depend on the period is kept here: which combinations
form each (segment, entity) member, the members' activity words over all history, and per
segment and day the number of members active on that day (DAU), in the 7 days (WAU) and in
the 30 days (MAU) ending on it. The stickiness of any period is then a lookup of those counts
instead of L window operations over every member, and a trend shares them over its periods.

The counts are maintained, not memoised per answer: `update` compares the members' words with
the new snapshot's and adds the difference of the changed members' window bits, so a refresh
that stored 50 late events costs a few small histograms. What changes the grouping itself (new
combinations, new history blocks) rebuilds it from the snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from collector.analytics.feature_pairs import FeaturePairs, Grown, levels_of, reduce_levels
from collector.analytics.params import MAU_DAYS, WAU_DAYS, Segment
from collector.analytics.state import Cube, Ints, Snapshot, T, Words
from collector.storage.bitmaps import BLOCK_DAYS

WIDTHS = (1, WAU_DAYS, MAU_DAYS)  # the windows whose per-day counts are kept
_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
_CHUNK = 1 << 16  # rows per histogram pass: bounds the temporary arrays
_MAX_HIST = 1 << 22  # histogram bins (32 MB) above which day_counts adds unpacked rows


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
    A histogram of (segment, byte column, byte value) per chunk of rows, then bits per byte
    value: no per-row or per-day Python, no unpacked (rows x days) array."""
    n, n_bytes = words.shape[0], words.shape[1] * 8
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    if n_seg * n_bytes * 256 > _MAX_HIST:  # many segments: unpacked rows, added per segment
        out = np.zeros((n_seg, n_bytes * 8), np.int64)
        for a in range(0, n, _CHUNK):
            bits = np.unpackbits(as_bytes[a : a + _CHUNK], axis=1, bitorder="little")
            np.add.at(out, seg[a : a + _CHUNK], bits)
        return out
    hist = np.zeros(n_seg * n_bytes * 256, np.int64)
    if n and n_bytes:
        col = np.arange(n_bytes, dtype=np.int64) * 256
        for a in range(0, n, _CHUNK):
            b = min(a + _CHUNK, n)
            key = (seg[a:b, None] * (n_bytes * 256) + col) + as_bytes[a:b]
            hist += np.bincount(key.ravel(), minlength=len(hist))
    per_byte = hist.reshape(n_seg * n_bytes, 256) @ _BITS.astype(np.int64)
    return per_byte.reshape(n_seg, n_bytes * 8)


@dataclass(frozen=True, slots=True)
class Grouping:
    """Members of the snapshot's combinations (after filters), sorted by segment then entity."""

    segments: list[Segment]  # in segment-key order (not display order)
    seg: Ints  # per member
    starts: Ints  # first member of each segment
    entity_codes: Ints  # per member
    combo_member: Ints  # per combination of the snapshot: its member, -1 when filtered out
    levels: list[tuple[Ints, Ints]]  # (members, their k-th combination) for k = 0, 1, ...
    mtype: Ints  # per member: the device type code of all its combinations, -1 when several
    mixed_rows: Ints  # the combinations of the members with several device types

    def reduce(self, values: npt.NDArray[T], op: np.ufunc) -> npt.NDArray[T]:
        """Per member: op (bitwise_or, minimum) over its combinations' rows of `values`."""
        return reduce_levels(self.levels, values, op)


def grouping(snap: Snapshot, group_by: Sequence[str], entity: str, filters: Mapping[str, str]
             ) -> Grouping:  # fmt: skip
    """Like cube.members, on the snapshot's combinations, with the merge plan of each member."""
    probe = Cube(0, 0, snap.codes, snap.vocab, snap.act[:, :0], snap.first, snap.f_combo,
                 snap.f_feat, snap.f_words[:, :0], snap.features)  # fmt: skip
    n = len(snap.first)
    rows = np.flatnonzero(probe.matches(sorted(filters.items()))) if filters else np.arange(n)
    seg_key = np.zeros(len(rows), np.int64)
    values: list[list[str | None]] = []
    for name in group_by:  # mixed radix over the attributes' codes, as in cube.members
        codes, vals = probe.attr(name)
        seg_key = seg_key * len(vals) + codes[rows]
        values.append(vals)
    seg_ids, seg_of_row = np.unique(seg_key, return_inverse=True)
    segments: list[Segment] = []
    for key in seg_ids.tolist():
        parts: list[str | None] = []
        for vals in reversed(values):
            key, c = divmod(key, len(vals))
            parts.append(vals[c])
        segments.append(tuple(reversed(parts)))
    attr = "device_id" if entity == "device" else "account_id"
    n_ent = max(len(snap.vocab[attr]), 1)
    pair = seg_of_row.astype(np.int64) * n_ent + snap.codes[attr][rows]
    pairs, member_of_row = np.unique(pair, return_inverse=True)
    combo_member = np.full(n, -1, np.int64)
    combo_member[rows] = member_of_row
    levels = [(own, rows[at]) for own, at in levels_of(member_of_row)]
    types = snap.codes["device_type"]
    lo = reduce_levels(levels, types, np.minimum)
    hi = reduce_levels(levels, types, np.maximum)
    mtype = np.where(lo == hi, lo, -1)
    seg = pairs // n_ent
    return Grouping(
        segments=segments,
        seg=seg,
        starts=np.searchsorted(seg, np.arange(len(segments))).astype(np.int64),
        entity_codes=pairs % n_ent,
        combo_member=combo_member,
        levels=levels,
        mtype=mtype,
        mixed_rows=rows[mtype[member_of_row] < 0],
    )


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
            or snap.codes is not old.codes
            or snap.block0 != old.block0
            or snap.act.shape[1] != old.act.shape[1]
        ):
            self._rebuild(snap)
            return
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
