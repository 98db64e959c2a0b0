"""The release engine's reads packed by SQL (docs/performance.md, "Release reads packed by SQL").

`Store.firmware_runs` and `Store.feature_uses` return one Python tuple per row: at 100,000
devices that is ~1.4 million (device, day) rows and ~150,000 runs, and the driver's per-value
cost made most of the first `/v1/releases` request. The packed reads return the same rows as a
few values per table: the names joined by SEP into one string, the integers joined too
(SQLite: decimal text, as printf costs more than the driver saved; PostgreSQL: int8send bytea),
decoded here by numpy. Sums and sorts are left to numpy where SQLite would sort or look rows up
one by one through an index (the reads scan the table in primary-key order).

A name that contains SEP cannot be split back; the decoders then return None and the backend
answers with the row read instead (exact, only slower).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from collector.storage.runbook import RunChanges, UsesRow, run_of

Ints = npt.NDArray[np.int64]
SEP = "\x1f"  # ASCII unit separator: between names in one packed string
_NONE = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class PackedUses:
    """feature_use events per (device, day): `counts[i]` rows of device `names[i]` (each name
    once), in names' order, then per row its day ordinal and its uses."""

    names: list[str]
    counts: Ints
    day: Ints
    uses: Ints

    @classmethod
    def of_rows(cls, rows: Sequence[UsesRow]) -> PackedUses:
        """The same from Store.feature_uses rows (the fallback, and the tests' reference)."""
        order = sorted(range(len(rows)), key=lambda i: rows[i][0])
        names: list[str] = []
        counts: list[int] = []
        for i in order:
            if not names or names[-1] != rows[i][0]:
                names.append(rows[i][0])
                counts.append(0)
            counts[-1] += 1
        return cls(
            names,
            np.asarray(counts, np.int64).reshape(len(counts)),
            np.fromiter((rows[i][1] for i in order), np.int64, len(order)),
            np.fromiter((rows[i][2] for i in order), np.int64, len(order)),
        )


@dataclass(frozen=True, slots=True)
class PackedRuns:
    """Firmware runs changed since a cursor, sorted by device then event order: per run its
    device, type and firmware as codes into `devices`, `types`, `firmwares`, its first and
    last day; and the cursor to pass next time."""

    devices: list[str]
    types: list[str]
    firmwares: list[str]
    device: Ints
    type: Ints
    firmware: Ints
    first_day: Ints
    last_day: Ints
    cursor: int

    @classmethod
    def of_changes(cls, changes: RunChanges) -> PackedRuns:
        """The same from Store.firmware_runs rows (the fallback, and the tests' reference)."""
        runs = sorted((run_of(r) for r in changes.rows), key=lambda dr: (dr[0], dr[1].first))
        devices, device = code([d for d, _ in runs])
        types, type_ = code([r.device_type for _, r in runs])
        firmwares, firmware = code([r.firmware for _, r in runs])
        return cls(
            devices, types, firmwares, device, type_, firmware,
            np.fromiter((r.first_day for _, r in runs), np.int64, len(runs)),
            np.fromiter((r.last_day for _, r in runs), np.int64, len(runs)),
            changes.cursor,
        )  # fmt: skip


def code(values: Sequence[str]) -> tuple[list[str], Ints]:
    """(vocabulary in first-seen order, the code of each value)."""
    index: dict[str, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return list(index), np.asarray(codes, np.int64).reshape(len(codes))


def split(text: str | None, n: int) -> list[str] | None:
    """`n` names joined by SEP, or None if they do not split back into `n` (a name with SEP)."""
    if not n:
        return [] if not text else None
    parts = (text or "").split(SEP)
    return parts if len(parts) == n else None


def ints(text: str | None) -> Ints:
    """Decimal integers joined by commas (SQLite: group_concat(x, ',')) -> int64 array, parsed
    in C (a list of str to int64 costs four times as much)."""
    if not text:
        return _NONE
    out: Ints = np.fromstring(text, dtype=np.int64, sep=",")
    if len(out) != text.count(",") + 1:
        raise ValueError("packed integers that do not parse")
    return out


def uses_of(names: str | None, counts: Ints, day: Ints, uses: Ints) -> PackedUses | None:
    """PackedUses from the names joined by SEP, the rows per name and per row its day ordinal
    and uses, a device's rows in any order and a day in several rows (summed here); None if a
    name holds SEP."""
    parts = split(names, len(counts))
    if parts is None or int(counts.sum()) != len(day) or len(day) != len(uses):
        return None
    if not len(day):
        return PackedUses(parts, counts, day, uses)
    dev = np.repeat(np.arange(len(parts), dtype=np.int64), counts)
    lo, span = int(day.min()), int(day.max() - day.min()) + 1
    keys, inverse = np.unique(dev * span + (day - lo), return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=uses, minlength=len(keys))
    return PackedUses(
        parts,
        np.bincount(keys // span, minlength=len(parts)).astype(np.int64),
        keys % span + lo,
        np.rint(sums).astype(np.int64),
    )


def day_ordinals(text: str | None, n: int) -> Ints | None:
    """`n` ISO days ('YYYY-MM-DD', 10 characters each) concatenated -> ordinals: the digits read
    by numpy, each distinct day checked and converted once; None if the text is not `n` days."""
    data = (text or "").encode("ascii", "replace")
    if len(data) != 10 * n:
        return None
    if not n:
        return _NONE
    chars = np.frombuffer(data, np.uint8).reshape(n, 10)
    digits = chars - np.uint8(ord("0"))  # wraps below '0': one test for both ends
    if (digits[:, [0, 1, 2, 3, 5, 6, 8, 9]] > 9).any() or (chars[:, [4, 7]] != ord("-")).any():
        return None
    keys = np.zeros(n, np.int64)  # YYYYMMDD
    for col in (0, 1, 2, 3, 5, 6, 8, 9):
        keys *= 10
        keys += digits[:, col]
    lo = int(keys.min())
    if int(keys.max()) - lo > 10_000_000:  # days over more than ~1,000 years: sort them
        distinct, inverse = np.unique(keys, return_inverse=True)
        found = _ordinals(distinct)
        return None if found is None else found[inverse.reshape(-1)]
    present = np.zeros(int(keys.max()) - lo + 1, np.bool_)
    present[keys - lo] = True
    distinct = np.flatnonzero(present) + lo
    table = np.zeros(len(present), np.int64)
    ords = _ordinals(distinct)
    if ords is None:
        return None
    table[distinct - lo] = ords
    return table[keys - lo]


def _ordinals(keys: Ints) -> Ints | None:
    """YYYYMMDD integers -> date ordinals; None for one that is no date."""
    try:
        out = [date(int(k) // 10000, int(k) // 100 % 100, int(k) % 100).toordinal() for k in keys]
    except ValueError:
        return None
    return np.asarray(out, np.int64).reshape(len(out))


def runs_of(
    devices: str | None,
    types: str | None,
    firmwares: str | None,
    cols: tuple[Ints, Ints, Ints],
    cursor: int,
) -> PackedRuns | None:
    """PackedRuns from three SEP-joined strings (device, type, firmware of each run) and per run
    its first event's timestamp, its first and last day (`cols`), runs in any order; None if a
    name holds SEP or two runs of a device start at the same timestamp (their order needs the
    event ids: the row read then)."""
    first_ts, first_day, last_day = cols
    n = len(first_ts)
    parts = [split(s, n) for s in (devices, types, firmwares)]
    if any(p is None for p in parts) or not len(first_day) == len(last_day) == n:
        return None
    (dv, dev), (tv, typ), (fv, fw) = (code(p or []) for p in parts)
    # Devices by name, then each device's runs by first timestamp (event order: the runs of a
    # device never overlap), as the Fleet needs them.
    # (A scan in key order brings them sorted already: checked in one pass, not sorted again.)
    if all(x < y for x, y in pairwise(dv)):
        name_rank = np.arange(len(dv), dtype=np.int64)
    else:
        name_rank = np.argsort(np.asarray(dv, dtype=object), kind="stable")
    by_name = np.empty(len(dv), np.int64)
    by_name[name_rank] = np.arange(len(dv))
    d = by_name[dev]
    order = np.lexsort((first_ts, d))
    d, ts = d[order], first_ts[order]
    if np.any((d[1:] == d[:-1]) & (ts[1:] == ts[:-1])):
        return None
    return PackedRuns(
        [dv[i] for i in name_rank], tv, fv, d, typ[order], fw[order],
        first_day[order], last_day[order], cursor,
    )  # fmt: skip
