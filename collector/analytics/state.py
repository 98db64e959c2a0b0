"""The analytics tables held in memory, and `Cube`, the slice of days one request works on.

`CubeState` mirrors activity_bits/feature_bits (migration 2 of both stores): per combination of
(device, account, device type, firmware, labels) its 64-day activity words over all history, and
per (combination, feature) the words of the days with feature_use. The stores hand out only the
rows changed since a cursor, each with its full current value, so `apply` just overwrites and a
long-running collector pays per request for what changed, not for the fleet's history.

Attributes are kept as integer codes with one vocabulary per attribute, so grouping, filtering
and segmenting are numpy operations rather than Python loops over combinations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from collector.analytics.arrays import (
    Bools,
    Ints,
    Vocab,
    Words,
    append,
    first_days,
    frozen,
    grow,
    writable,
)
from collector.storage.bitmaps import BLOCK_DAYS, Changes, ComboRow, FeatureNameRow

ATTRS = ("device_id", "account_id", "device_type", "firmware_version", "labels")
NONE = -1  # code of a missing label value


@dataclass(frozen=True, slots=True)
class Cube:
    """The combinations (after filters) with their days in [lo, lo + n_days - 1]."""

    lo: int  # ordinal of day column 0 (a block boundary)
    n_days: int
    codes: dict[str, Ints]  # attribute -> code per combination
    vocab: dict[str, list[str]]  # attribute -> value per code
    words: Words  # (combinations, blocks)
    first: Ints  # first active day of each combination, over all history
    f_combo: Ints  # per feature row: its combination (row of `words`)
    f_feat: Ints  # per feature row: code into `features`
    f_words: Words
    features: list[str]
    # The days asked for; members() keeps only these columns (blocks are wider).
    span: tuple[int, int] = (0, -1)

    @property
    def hi(self) -> int:
        return self.lo + self.n_days - 1

    def __len__(self) -> int:
        return len(self.first)

    def attr(self, name: str) -> tuple[Ints, list[str | None]]:
        """Codes per combination and the value of each code, for an attribute or label:<key>
        (a missing label has its own code, whose value is None)."""
        if name in self.codes:
            return self.codes[name], list(self.vocab[name])
        if not name.startswith("label:") or name == "label:":
            raise ValueError(f"unknown attribute {name!r}")
        key = name[6:]
        values: list[str | None] = []
        index: dict[str | None, int] = {}
        remap = np.empty(len(self.vocab["labels"]), np.int64)
        for code, raw in enumerate(self.vocab["labels"]):
            value = json.loads(raw).get(key)
            value = None if value is None else str(value)
            if value not in index:
                index[value] = len(values)
                values.append(value)
            remap[code] = index[value]
        return remap[self.codes["labels"]], values

    def matches(self, conditions: Iterable[tuple[str, str]]) -> Bools:
        """Combinations whose attributes equal every (attribute, value)."""
        keep = np.ones(len(self), np.bool_)
        for name, value in conditions:
            codes, values = self.attr(name)
            wanted = [c for c, v in enumerate(values) if v == value]
            keep &= np.isin(codes, wanted) if wanted else False
        return keep

    def type_name(self, combo: int) -> str:
        return self.vocab["device_type"][int(self.codes["device_type"][combo])]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent version of the analytics tables: what a request reads.

    `CubeState.apply` builds a new one at the end of every refresh and swaps it in with one
    assignment. Its arrays are read-only views, its name lists copies, and the state copies an
    array before writing to one a snapshot still holds (copy on write), so a request that takes
    the reference once computes on one version however many refreshes run meanwhile, in the
    event loop or in a thread. Every per-combination array has the same length."""

    block0: int
    act: Words  # (combinations, blocks); column 0 is block `block0`
    first: Ints  # first active day of each combination, over all history
    codes: dict[str, Ints]  # attribute -> code per combination
    vocab: dict[str, list[str]]  # attribute -> value per code (never appended to)
    f_combo: Ints  # per feature row: its combination
    f_feat: Ints  # per feature row: code into `features`
    f_words: Words  # (feature rows, blocks)
    features: list[str]

    def __post_init__(self) -> None:
        n, nf = len(self.first), len(self.f_combo)
        if (
            self.act.shape[0] != n
            or any(len(c) != n for c in self.codes.values())
            or len(self.f_feat) != nf
            or self.f_words.shape[0] != nf
            # the same blocks: a block of feature uses always has its activity words (pes_pairs)
            or self.f_words.shape[1] != self.act.shape[1]
        ):
            raise RuntimeError("analytics snapshot arrays of different lengths")

    def view(self, lo: int, hi: int, filters: Mapping[str, str] | None = None) -> Cube:
        """The cube for days [lo, hi] (ordinals, widened to whole blocks) after filters."""
        lo_b, hi_b = lo // BLOCK_DAYS, hi // BLOCK_DAYS
        a, b = max(lo_b, self.block0), min(hi_b, self.block0 + self.act.shape[1] - 1)
        out = []
        for src in (self.act, self.f_words):
            words = np.zeros((src.shape[0], hi_b - lo_b + 1), np.uint64)
            if a <= b and len(src):
                words[:, a - lo_b : b - lo_b + 1] = src[:, a - self.block0 : b - self.block0 + 1]
            out.append(words)
        cube = Cube(
            lo=lo_b * BLOCK_DAYS,
            n_days=(hi_b - lo_b + 1) * BLOCK_DAYS,
            codes=self.codes,
            vocab=self.vocab,
            words=out[0],
            first=self.first,
            f_combo=self.f_combo,
            f_feat=self.f_feat,
            f_words=out[1],
            features=self.features,
            span=(lo, hi),
        )
        return subset(cube, cube.matches(sorted((filters or {}).items()))) if filters else cube


_NO_WORDS: Words = frozen(np.zeros((0, 0), np.uint64))
_NO_INTS: Ints = frozen(np.zeros(0, np.int64))
EMPTY = Snapshot(0, _NO_WORDS, _NO_INTS, {a: _NO_INTS for a in ATTRS}, {a: [] for a in ATTRS},
                 _NO_INTS, _NO_INTS, _NO_WORDS, [])  # fmt: skip


_FEATURE_BITS = 32  # a feature row's key: row << 32 | feature code (both below 2**31)
_FEATURE_MASK = (1 << _FEATURE_BITS) - 1


def _columns(changes: Changes) -> tuple[Ints, Ints]:
    """The changed rows as (n, 3) and (n, 4) int64 arrays, whichever form the store gave."""
    act = np.asarray(changes.activity, np.int64).reshape(-1, 3)
    fb = np.asarray(changes.feature_bits, np.int64).reshape(-1, 4)
    return act, fb


class CubeState:
    """The tables being brought up to date (under the caller's lock) and `snapshot`, the last
    complete version of them, which is all that requests read."""

    def __init__(self) -> None:
        self.cursor = (-1, -1)
        self.block0 = 0
        self.n = 0  # combinations (rows)
        self.row_of: Ints = np.zeros(0, np.int64)  # combination id -> row (-1: none)
        self.vocabs = {a: Vocab() for a in ATTRS}
        self.codes: list[Ints] = [np.zeros(0, np.int64) for _ in ATTRS]  # first n used
        self.act: Words = np.zeros((0, 0), np.uint64)
        self.feature_ids: dict[int, int] = {}  # feature id -> code
        self.features = Vocab()
        # Sorted keys (row << _FEATURE_BITS | feature code) and the feature row of each.
        self.f_keys: Ints = np.zeros(0, np.int64)
        self.f_key_rows: Ints = np.zeros(0, np.int64)
        self.nf = 0  # feature rows
        self.f_combo: Ints = np.zeros(0, np.int64)  # first nf used
        self.f_feat: Ints = np.zeros(0, np.int64)
        self.f_words: Words = np.zeros((0, 0), np.uint64)
        self.snapshot = EMPTY

    @property
    def rows(self) -> dict[int, int]:
        """Combination id -> row, built on each call (for tests and tools; the state keeps
        `row_of`, no dict of a million entries)."""
        ids = np.flatnonzero(self.row_of >= 0)
        return dict(zip(ids.tolist(), self.row_of[ids].tolist(), strict=True))

    def missing(self, changes: Changes) -> tuple[list[int], list[int]]:
        """Combination and feature ids the changes refer to that this state has not seen."""
        act, fb = _columns(changes)
        combos = np.unique(np.concatenate([act[:, 0], fb[:, 0]]))
        known = (combos >= 0) & (combos < len(self.row_of))
        known[known] = self.row_of[combos[known]] >= 0
        feats = set(fb[:, 1].tolist())
        return combos[~known].tolist(), sorted(feats - self.feature_ids.keys())

    def add_names(self, combos: Sequence[ComboRow], features: Sequence[FeatureNameRow]) -> None:
        """Names for `apply`; requests see them once `apply` publishes the next snapshot."""
        ids = np.fromiter((c[0] for c in combos), np.int64, len(combos))
        if len(ids):  # ids are the stores' serial keys: dense, so an array indexed by id
            if ids.min() < 0:
                raise ValueError("negative combination id")
            if ids.max() >= len(self.row_of):
                grown = np.full(max(int(ids.max()) + 1, 2 * len(self.row_of)), -1, np.int64)
                grown[: len(self.row_of)] = self.row_of
                self.row_of = grown
            _, first = np.unique(ids, return_index=True)  # once each, in the order given
            take = np.zeros(len(ids), np.bool_)
            take[first] = True
            new = np.flatnonzero(take & (self.row_of[ids] < 0))
            for k, a in enumerate(ATTRS):
                code = self.vocabs[a].code
                values = np.fromiter((code(str(combos[i][k + 1])) for i in new.tolist()),
                                     np.int64, len(new))  # fmt: skip
                self.codes[k] = append(self.codes[k], self.n, values)
            self.row_of[ids[new]] = self.n + np.arange(len(new))
            self.n += len(new)
        for fid, name in features:
            self.feature_ids[fid] = self.features.code(name)

    def _blocks(self, blocks: Ints) -> None:
        """Make room for these blocks (all history stays; new blocks are rare)."""
        if not len(blocks):
            return
        lo = int(blocks.min()) if self.act.shape[1] == 0 else min(int(blocks.min()), self.block0)
        hi = max(int(blocks.max()), self.block0 + self.act.shape[1] - 1)
        shift = self.block0 - lo if self.act.shape[1] else 0
        width = hi - lo + 1
        self.act = grow(self.act, self.n, width, shift)
        self.f_words = grow(self.f_words, self.f_words.shape[0], width, shift)
        self.block0 = lo

    def apply(self, changes: Changes) -> None:
        """Overwrite the rows that changed, then publish a new snapshot; names must have been
        added first (`missing`)."""
        act, fb = _columns(changes)
        rows = np.zeros(0, np.int64)
        self._blocks(np.concatenate([act[:, 1], fb[:, 2]]))
        if self.act.shape[0] < self.n:
            self.act = grow(self.act, self.n, self.act.shape[1], 0)
        if len(act):
            rows = self._rows_of(act[:, 0])
            self.act = writable(self.act, self.snapshot.act)
            self.act[rows, act[:, 1] - self.block0] = act[:, 2].view(np.uint64)
        if len(fb):
            combos = self._rows_of(fb[:, 0])
            feats = np.fromiter(
                map(self.feature_ids.__getitem__, fb[:, 1].tolist()), np.int64, len(fb)
            )
            index = self._feature_rows(combos << _FEATURE_BITS | feats)
            if self.f_words.shape[0] < self.nf:
                self.f_words = grow(self.f_words, self.nf, self.act.shape[1], 0)
            self.f_words = writable(self.f_words, self.snapshot.f_words)
            self.f_words[index, fb[:, 2] - self.block0] = fb[:, 3].view(np.uint64)
        self.cursor = changes.cursor
        self._publish(rows)

    def _rows_of(self, ids: Ints) -> Ints:
        """The row of each combination id (all added by add_names)."""
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.row_of)):
            raise KeyError("combination ids without names: call add_names first")
        rows = self.row_of[ids]
        if (rows < 0).any():
            raise KeyError("combination ids without names: call add_names first")
        return rows

    def _feature_rows(self, keys: Ints) -> Ints:
        """The feature row of each key (row << _FEATURE_BITS | feature code), numbering new
        keys in order of first appearance. A sorted array of the known keys and binary
        search, no per-row Python: a cold start meets a key per (combination, feature),
        millions of them at a million devices."""
        known, rows = self.f_keys, self.f_key_rows
        pos = np.minimum(np.searchsorted(known, keys), max(len(known) - 1, 0))
        found = known[pos] == keys if len(known) else np.zeros(len(keys), np.bool_)
        index = np.where(found, rows[pos] if len(known) else 0, -1)
        new = ~found
        if new.any():
            fresh, first, inverse = np.unique(keys[new], return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            number = np.empty(len(fresh), np.int64)
            number[order] = self.nf + np.arange(len(fresh))
            index[new] = number[inverse]
            self.f_combo = append(self.f_combo, self.nf, fresh[order] >> _FEATURE_BITS)
            self.f_feat = append(self.f_feat, self.nf, fresh[order] & _FEATURE_MASK)
            self.nf += len(fresh)
            at = np.searchsorted(known, fresh)
            self.f_keys, self.f_key_rows = np.insert(known, at, fresh), np.insert(rows, at, number)
        return index

    def _publish(self, changed: Ints) -> None:
        """Swap in a snapshot of the tables as they are now. What did not change is taken
        from the previous snapshot: converting 100,000s of list items per request would cost
        more than the query. `changed`: the rows whose activity words were written."""
        old, n, nf = self.snapshot, self.n, self.nf
        grew = n != len(old.first)
        codes, vocab = old.codes, old.vocab
        if grew:  # new combinations are the only source of new attribute values
            codes = {a: frozen(self.codes[k][:n]) for k, a in enumerate(ATTRS)}
            vocab = {a: list(self.vocabs[a].values) for a in ATTRS}
        f_combo, f_feat = old.f_combo, old.f_feat
        if nf != len(old.f_combo):
            f_combo, f_feat = frozen(self.f_combo[:nf]), frozen(self.f_feat[:nf])
        features = old.features
        if len(self.features.values) != len(old.features):
            features = list(self.features.values)
        act = frozen(self.act[:n])
        # A combination can arrive with feature rows only (its activity rows read in a later
        # refresh), so new rows recompute `first` too, not only new activity. Only the written
        # and the new rows: a refresh after a small write costs a copy, not a pass over every
        # combination's words (unless history gained an earlier block, which moves column 0).
        first = old.first
        if self.block0 != old.block0 or len(old.first) > n:
            first = frozen(first_days(act, self.block0))
        elif len(changed) or grew:
            rows = np.union1d(changed, np.arange(len(old.first), n))
            out = np.empty(n, np.int64)
            out[: len(old.first)] = old.first
            out[rows] = first_days(act[rows], self.block0)
            first = frozen(out)
        self.snapshot = Snapshot(
            self.block0, act, first, codes, vocab, f_combo, f_feat,
            frozen(self.f_words[:nf]), features,
        )  # fmt: skip

    def first(self) -> Ints:
        """First active day of every combination (ordinal), as of the last `apply`."""
        return self.snapshot.first

    def view(self, lo: int, hi: int, filters: Mapping[str, str] | None = None) -> Cube:
        """The last snapshot's cube for days [lo, hi] (see Snapshot.view)."""
        return self.snapshot.view(lo, hi, filters)


def subset(cube: Cube, keep: Bools) -> Cube:
    """Only the combinations with keep[i] (and their feature rows)."""
    new_index = np.cumsum(keep) - 1
    f_keep = keep[cube.f_combo] if len(cube.f_combo) else np.zeros(0, np.bool_)
    return Cube(
        lo=cube.lo,
        n_days=cube.n_days,
        codes={a: c[keep] for a, c in cube.codes.items()},
        vocab=cube.vocab,
        words=cube.words[keep],
        first=cube.first[keep],
        f_combo=new_index[cube.f_combo[f_keep]],
        f_feat=cube.f_feat[f_keep],
        f_words=cube.f_words[f_keep],
        features=cube.features,
        span=cube.span,
    )
