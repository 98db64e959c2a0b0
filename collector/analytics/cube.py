"""The analytics engine: bitmap rollups -> numpy arrays -> per-entity PES contributions.

`Cube` holds what the store returned for a day range: per combination of (device, account,
device type, firmware, labels) a row of active days, its first active day (all history) and per
feature a row of days with feature_use. `members` merges the combinations of each (segment,
entity) pair, the unit pes.md counts, and `period_stats` derives for one period everything the
PES needs per member (so that `aggregate` can sum it per segment and the bootstrap can resample
it). This is the product's one PES engine; the randomized tests check it against the reference
implementation kept in tests/oracles/pes_reference.py and against a naive one over raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from collector.analytics.arrays import Bools, Ints, Words
from collector.analytics.bits import any_between, bits_between, count_between
from collector.analytics.params import (
    DEFAULT_CORE_KEY,
    MAU_DAYS,
    WAU_DAYS,
    PesParams,
    PesResult,
    Segment,
    segment_sort_key,
)
from collector.analytics.scores import core_features_of, daily_ratios, pes_result
from collector.analytics.state import Cube

Floats = npt.NDArray[np.float64]
_WINDOWS = {"dau_mau": (1, MAU_DAYS), "dau_wau": (1, WAU_DAYS), "wau_mau": (WAU_DAYS, MAU_DAYS)}


class Members:
    """(segment, entity) pairs sorted by segment; `starts` indexes each segment's first. Their
    days stay packed (64 per word): every "active between a and b" is a few mask operations
    per member, cheaper than unpacking days and summing them (measured: docs/performance.md)."""

    def __init__(
        self,
        segments: list[Segment],
        starts: Ints,
        seg: Ints,
        entity_codes: Ints,
        entity_names: list[str],
        words: Words,
        first: Ints,
        combo_member: Ints,
        wlo: int,
        span: tuple[int, int],
    ) -> None:
        self.segments = segments
        self.starts = starts
        self.seg = seg  # per member: index into segments
        self.entity_codes = entity_codes
        self._names = entity_names
        self.words = words  # (members, blocks); bit 0 of column 0 is day `wlo`
        self.first = first  # first active day in the segment, all history
        self.combo_member = combo_member  # per combination: its member, -1 when excluded
        self.wlo = wlo
        self.lo, self.hi = span  # the days this request may look at
        self._entity: list[str] | None = None

    def __len__(self) -> int:
        return len(self.first)

    @property
    def entity(self) -> list[str]:
        """Entity id per member (built on first use: the PES table never needs it)."""
        if self._entity is None:
            self._entity = [self._names[c] for c in self.entity_codes.tolist()]
        return self._entity

    def active_between(self, a: int, b: int) -> Bools:
        """Per member: active on some day of [a, b] (ordinals)."""
        return bits_between(self.words, self.wlo, a, b)

    def days_between(self, a: int, b: int) -> Ints:
        """Per member: the number of active days in [a, b]."""
        return count_between(self.words, self.wlo, a, b)


def members(
    cube: Cube,
    group_by: Sequence[str],
    entity: str,
    keep: Bools | None = None,
) -> Members:
    """Group the combinations (those with keep[i], default all) by segment and entity."""
    n = len(cube)
    rows = np.arange(n) if keep is None else np.flatnonzero(keep)
    seg_key = np.zeros(len(rows), np.int64)
    values: list[list[str | None]] = []
    for name in group_by:  # mixed radix over the attributes' codes: one integer per segment
        codes, vals = cube.attr(name)
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
    order = sorted(range(len(segments)), key=lambda k: segment_sort_key(segments[k]))
    rank = np.empty(len(segments), np.int64)
    rank[order] = np.arange(len(segments))
    ent_codes = cube.codes["device_id" if entity == "device" else "account_id"][rows]
    n_ent = len(cube.vocab["device_id" if entity == "device" else "account_id"])
    pair = rank[seg_of_row] * max(n_ent, 1) + ent_codes  # sorted pairs: by segment, then entity
    pairs, member_of_row = np.unique(pair, return_inverse=True)
    combo_member = np.full(n, -1, np.int64)
    combo_member[rows] = member_of_row
    m = len(pairs)
    words = np.zeros((m, cube.words.shape[1]), np.uint64)
    np.bitwise_or.at(words, member_of_row, cube.words[rows])
    first = np.full(m, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, member_of_row, cube.first[rows])
    seg = pairs // max(n_ent, 1)
    return Members(
        segments=[segments[k] for k in order],
        starts=np.searchsorted(seg, np.arange(len(segments))).astype(np.int64),
        seg=seg,
        entity_codes=pairs % max(n_ent, 1),
        entity_names=cube.vocab["device_id" if entity == "device" else "account_id"],
        words=words,
        first=first,
        combo_member=combo_member,
        wlo=cube.lo,
        span=cube.span if cube.span[0] <= cube.span[1] else (cube.lo, cube.hi),
    )


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """Per-member contributions to one period's PES (arrays over the members)."""

    params: PesParams
    mem: Members
    active: Bools
    in_prev: Bools
    new: Bools
    recovered: Bools
    dropped: Bools
    has_core: Bools  # active with a non-empty C_e
    share: Floats  # adopted_e / |C_e| (0 where not has_core)
    num: Bools  # (members, L): numerator window active on day d of P
    den: Bools
    dau: Bools  # on `end`
    wau: Bools
    mau: Bools
    types: Bools  # (members, types) device types of the member's activity in P
    type_names: list[str]
    core: Bools  # (types, vocab) core set of each type
    vocab: list[str]
    used: Bools  # (members, vocab) features used in P


def windows(mem: Members, start: int, end: int, width: int) -> Bools:
    """(members, L): active on some day of [d - width + 1, d], for each d in [start, end]."""
    if start - width + 1 < mem.lo or end > mem.hi:
        raise ValueError("the cube does not reach back far enough for this period")
    out = np.empty((len(mem), end - start + 1), np.bool_)
    for j, d in enumerate(range(start, end + 1)):
        out[:, j] = mem.active_between(d - width + 1, d)
    return out


def fleet_features(cube: Cube, start: int, end: int) -> dict[str, set[str]]:
    """Per device type: the features its (loaded) fleet used in [start, end]: the core set of a
    type that has no configured one."""
    hit = any_between(cube, cube.f_words, start, end)
    n_feat = max(len(cube.features), 1)
    keys = np.unique(cube.codes["device_type"][cube.f_combo[hit]] * n_feat + cube.f_feat[hit])
    out: dict[str, set[str]] = {}
    for t, f in zip(*divmod(keys, n_feat), strict=True):
        out.setdefault(cube.vocab["device_type"][int(t)], set()).add(cube.features[int(f)])
    return out


def core_sets(
    params: PesParams, types: Iterable[str], fleet: Mapping[str, set[str]]
) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for t in types:
        names = params.core_features.get(t, params.core_features.get(DEFAULT_CORE_KEY))
        out[t] = frozenset(fleet.get(t, ()) if names is None else names)
    return out


def period_stats(
    cube: Cube, mem: Members, params: PesParams, fleet: Mapping[str, set[str]] | None = None
) -> PeriodStats:
    start, end, length = params.start.toordinal(), params.end.toordinal(), params.length
    if start - max(length, MAU_DAYS - 1) < mem.lo or end > mem.hi:
        raise ValueError("the cube does not cover this period")
    active = mem.active_between(start, end)
    in_prev = mem.active_between(start - length, start - 1)
    new = active & (mem.first >= start)
    recovered = active & ~in_prev & (mem.first < start - length)
    dropped = in_prev & ~active
    num_w, den_w = _WINDOWS[params.stickiness]
    num = windows(mem, start, end, num_w)
    den = num if den_w == num_w else windows(mem, start, end, den_w)
    last = mem.active_between(end, end)
    wau = mem.active_between(end - WAU_DAYS + 1, end)
    mau = mem.active_between(end - MAU_DAYS + 1, end)

    # Device types of each member's activity in P, and the features it used in P.
    in_p = any_between(cube, cube.words, start, end) & (mem.combo_member >= 0)
    type_names = cube.vocab["device_type"]
    types = np.zeros((len(mem), len(type_names)), np.bool_)
    types[mem.combo_member[in_p], cube.codes["device_type"][in_p]] = True
    in_p_types = np.bincount(cube.codes["device_type"][in_p], minlength=len(type_names))
    present = [type_names[t] for t in np.flatnonzero(in_p_types).tolist()]
    configured = params.core_features
    if fleet is None and DEFAULT_CORE_KEY not in configured:
        # Only a type without a configured core set needs its fleet's features in P.
        missing = any(t not in configured for t in present)
        fleet = fleet_features(cube, start, end) if missing else {}
    cores = core_sets(params, present, fleet or {})
    vocab = sorted(set().union(*cores.values())) if cores else []
    v_index = {f: k for k, f in enumerate(vocab)}
    core = np.zeros((len(type_names), len(vocab)), np.bool_)
    for t, names in cores.items():
        core[type_names.index(t), [v_index[f] for f in names]] = True
    used = np.zeros((len(mem), len(vocab)), np.bool_)
    f_hit = any_between(cube, cube.f_words, start, end)
    f_hit &= mem.combo_member[cube.f_combo] >= 0
    to_vocab = np.array([v_index.get(f, -1) for f in cube.features] or [-1], np.int64)
    f_rows = np.flatnonzero(f_hit)
    v_of = to_vocab[cube.f_feat[f_rows]]
    ok = v_of >= 0
    used[mem.combo_member[cube.f_combo[f_rows[ok]]], v_of[ok]] = True
    # C_e depends only on the member's set of device types, and members share few such sets:
    # compute each set's core once, then count per vocabulary column (row sums over short
    # rows are slow in numpy).
    packed = np.packbits(types, axis=1, bitorder="little")
    if packed.shape[1] <= 8:  # up to 64 device types: one integer key per member
        keys = np.zeros((len(mem), 8), np.uint8)
        keys[:, : packed.shape[1]] = packed
        type_keys, set_of = np.unique(keys.view("<u8").ravel(), return_inverse=True)
        type_sets = type_keys.astype("<u8").view(np.uint8).reshape(-1, 8)
    else:
        type_sets, set_of = np.unique(packed, axis=0, return_inverse=True)
    set_core = np.zeros((len(type_sets), len(vocab)), np.bool_)
    for g, row in enumerate(type_sets):
        member_types = np.unpackbits(row, count=len(type_names), bitorder="little")
        set_core[g] = core[member_types.astype(np.bool_)].any(axis=0)
    size = set_core.sum(axis=1)[set_of]
    adopted = np.zeros(len(mem), np.int64)
    for j in range(len(vocab)):
        adopted += used[:, j] & set_core[set_of, j]
    has_core = active & (size > 0)
    share = np.where(has_core, adopted / np.maximum(size, 1), 0.0)
    return PeriodStats(
        params,
        mem,
        active,
        in_prev,
        new,
        recovered,
        dropped,
        has_core,
        share,
        num,
        den,
        last,
        wau,
        mau,
        types,
        type_names,
        core,
        vocab,
        used,
    )


def feature_counts(st: PeriodStats) -> tuple[list[list[int]], list[list[int]]]:
    """Per segment and feature of `st.vocab`: (users, eligible). Eligible: active entities
    whose core set C_e holds the feature; users: those of them that used it in P. A feature
    counts only where it is core: `jog` is no press-x device's to adopt.

    Most segments hold one device type (any group_by with device_type): there every active
    member has the same C_e and the sums are per segment. Only segments mixing types (the whole
    fleet, accounts) pay for a core set per member."""
    starts, n_vocab = st.mem.starts, len(st.vocab)
    mine = st.types & st.active[:, None]
    seg_types = np.add.reduceat(mine, starts, axis=0, dtype=np.int64)  # active members per type
    several = np.add.reduceat(mine.sum(axis=1) > 1, starts, dtype=np.int64)
    pure = ((seg_types > 0).sum(axis=1) <= 1) & (several == 0)
    n_active = np.add.reduceat(st.active, starts, dtype=np.int64)
    core_of = st.core[seg_types.argmax(axis=1)] & (seg_types.max(axis=1) > 0)[:, None]
    users = np.zeros((len(starts), n_vocab), np.int64)
    for j in range(n_vocab) if pure.any() else ():
        users[:, j] = np.add.reduceat(st.used[:, j] & st.active, starts, dtype=np.int64)
    users *= core_of
    eligible = n_active[:, None] * core_of
    mixed = np.flatnonzero(~pure)
    if len(mixed):
        ends = np.append(starts[1:], len(st.active))
        if len(mixed) == len(starts):  # e.g. the whole fleet: no copies
            sub, part, used = starts, mine, st.used
        else:
            rows = np.concatenate([np.arange(starts[k], ends[k]) for k in mixed])
            sub = np.concatenate([[0], np.cumsum(ends[mixed] - starts[mixed])[:-1]])
            part, used = mine[rows], st.used[rows]
        member_core = (part.astype(np.int32) @ st.core.astype(np.int32)) > 0
        for j in range(n_vocab):
            core_j = member_core[:, j]
            eligible[mixed, j] = np.add.reduceat(core_j, sub, dtype=np.int64)
            users[mixed, j] = np.add.reduceat(core_j & used[:, j], sub, dtype=np.int64)
    return users.tolist(), eligible.tolist()


def aggregate(st: PeriodStats) -> list[PesResult]:
    """One PesResult per segment with a member active in P or P' (like compute_pes). Sums per
    segment are np.add.reduceat over the members, which are sorted by segment."""
    mem, params = st.mem, st.params
    if not len(mem.segments):
        return []
    starts = mem.starts

    def per_segment(x: npt.NDArray[np.generic]) -> npt.NDArray[np.int32]:
        return np.add.reduceat(x, starts, axis=0, dtype=np.int32)

    flags = [st.active, st.in_prev, st.has_core, st.new, st.recovered, st.dropped, st.dau,
             st.wau, st.mau]  # fmt: skip
    counts = per_segment(np.stack(flags, axis=1)).tolist()
    shares = np.add.reduceat(st.share, starts).tolist()
    num, den = per_segment(st.num).astype(np.float64), per_segment(st.den).astype(np.float64)
    ratio_sums, days_ok = daily_ratios(num, den)
    # Column by column: reduceat over long 1-D arrays beats it over (members x few) ones.
    seg_types = np.zeros((len(starts), st.types.shape[1]), np.bool_)
    for t in range(st.types.shape[1]):
        seg_types[:, t] = per_segment(st.types[:, t] & st.active) > 0
    users, eligible = feature_counts(st)
    row_core = (seg_types.astype(np.int32) @ st.core.astype(np.int32)) > 0
    out: list[PesResult] = []
    for k, segment in enumerate(mem.segments):
        n_active, n_prev, n_core, new, rec, drop, dau, wau, mau = counts[k]
        if not (n_active or n_prev):
            continue
        types = sorted(np.flatnonzero(seg_types[k]).tolist(), key=st.type_names.__getitem__)
        out.append(
            pes_result(
                params,
                segment,
                active=n_active,
                share_sum=shares[k],
                n_core=n_core,
                ratio_sum=ratio_sums[k],
                days_ok=days_ok[k],
                new=new,
                recovered=rec,
                dropped=drop,
                dau=dau,
                wau=wau,
                mau=mau,
                core_features=core_features_of(types, st.type_names, st.vocab, st.core),
                feature_adoption={
                    f: users[k][j] / eligible[k][j]
                    for j, f in enumerate(st.vocab)
                    if row_core[k, j]
                },
            )
        )
    return out


def needed_range(params: PesParams) -> tuple[int, int]:
    """Ordinals [lo, hi] a cube must cover to compute `params` (P', MAU windows, P)."""
    start = params.start.toordinal()
    return start - max(params.length, MAU_DAYS - 1), params.end.toordinal()
