"""A `CubeState` written to one file and read back: what lets a restarted collector skip the
cold load (collector/reports/warmstart.py decides when, and whether a file may be trusted).

The file is an uncompressed numpy .npz archive: the state's arrays as they are, each name list
as one UTF-8 text and the character offsets of its values (a million device ids cost one decode
and a million slices, not a million SQL rows), and a JSON header with the format, the cursor and
whatever the caller adds (the store's identity). Zip keeps a CRC-32 per member and numpy reads
each member to its end, so a flipped bit or a truncated file is an error on reading, never
numbers. It is written to a temporary file in the same directory and renamed over the old one,
so a reader (another process too) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.analytics.arrays import Vocab, first_days, frozen
from collector.analytics.state import ATTRS, CubeState, Snapshot
from collector.storage.bitmaps import Cursor

FORMAT = 1  # bump when the layout or the meaning of any member changes
Ints = npt.NDArray[np.int64]


class StateFileError(ValueError):
    """The file is not a readable state of this format (corrupt, truncated, foreign)."""


@dataclass(frozen=True, slots=True)
class Saved:
    """One consistent version of a state, taken on the event loop between two refreshes (a
    refresh changes the state only between its awaits) and written later in a thread: the
    published snapshot never changes, the rest is copied."""

    snapshot: Snapshot
    cursor: Cursor
    combo_ids: Ints  # per row of the snapshot: its combination id
    feature_ids: Ints  # per feature code: the store's feature id
    f_keys: Ints  # the state's sorted feature-row keys and the feature row of each
    f_key_rows: Ints

    @classmethod
    def of(cls, state: CubeState) -> Saved:
        snap = state.snapshot
        n = len(snap.first)
        ids = np.flatnonzero(state.row_of >= 0)
        combo_ids = np.full(n, -1, np.int64)
        rows = state.row_of[ids]
        keep = rows < n  # named but not applied yet: not in this snapshot
        combo_ids[rows[keep]] = ids[keep]
        feature_ids = np.full(len(snap.features), -1, np.int64)
        for fid, code in state.feature_ids.items():
            if code < len(feature_ids):
                feature_ids[code] = fid
        nf = len(snap.f_combo)
        keys = state.f_keys.copy()
        key_rows = state.f_key_rows.copy()
        inside = key_rows < nf
        return cls(snap, state.cursor, combo_ids, feature_ids, keys[inside], key_rows[inside])


def names_text(values: Sequence[str]) -> tuple[npt.NDArray[np.uint8], Ints]:
    """The values as one UTF-8 text, separated by NUL, and each value's end (in characters)."""
    joined = "\0".join(values)
    ends = np.cumsum([len(v) + 1 for v in values], dtype=np.int64) - 1
    return np.frombuffer(joined.encode(), np.uint8), ends


def text_names(blob: npt.NDArray[np.uint8], ends: Ints) -> list[str]:
    """`names_text` undone: a split where no value holds a NUL (one C call for a million values),
    slices where one does."""
    joined = blob.tobytes().decode()
    n = len(ends)
    if (n and int(ends[-1]) != len(joined)) or (not n and joined) or (np.diff(ends) < 1).any():
        raise StateFileError("name ends do not fit their text")
    if not n:
        return []
    values = joined.split("\0")
    if len(values) == n:
        return values
    starts = [0, *(ends[:-1] + 1).tolist()]
    return [joined[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]


def write(saved: Saved, path: Path, header: Mapping[str, Any]) -> int:
    """Write atomically (temporary file, fsync, rename); returns the file's size in bytes."""
    snap = saved.snapshot
    members: dict[str, npt.NDArray[Any]] = {
        "act": snap.act, "combo_ids": saved.combo_ids,
        "f_combo": snap.f_combo, "f_feat": snap.f_feat, "f_words": snap.f_words,
        "f_keys": saved.f_keys, "f_key_rows": saved.f_key_rows,
        "feature_ids": saved.feature_ids,
    }  # fmt: skip
    for a in ATTRS:
        members[f"codes_{a}"] = snap.codes[a].astype(np.int32)
        members[f"vocab_{a}"], members[f"vocab_{a}_at"] = names_text(snap.vocab[a])
    members["features"], members["features_at"] = names_text(snap.features)
    head = {**header, "format": FORMAT, "cursor": list(saved.cursor), "block0": snap.block0,
            "combos": len(snap.first), "feature_rows": len(snap.f_combo)}  # fmt: skip
    members["header"] = np.frombuffer(json.dumps(head).encode(), np.uint8)
    return write_members(members, path)


def write_members(members: Mapping[str, npt.NDArray[Any]], path: Path) -> int:
    """An uncompressed .npz of `members` written atomically (temporary file in the same
    directory, fsync, rename, directory fsync); returns the file's size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            # numpy's stub types `allow_pickle` among the keywords; these are all arrays
            np.savez(f, **members)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # not every filesystem syncs a directory
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself survives a crash
        finally:
            os.close(dfd)
    return path.stat().st_size


def read_header(members: Mapping[str, npt.NDArray[Any]], fmt: int = FORMAT) -> dict[str, Any]:
    """The JSON header of a file of format `fmt`; StateFileError for any other."""
    try:
        head = json.loads(members["header"].tobytes().decode())
    except (KeyError, ValueError) as exc:
        raise StateFileError(f"no readable header: {exc}") from exc
    if not isinstance(head, dict) or head.get("format") != fmt:
        got = head.get("format") if isinstance(head, dict) else None
        raise StateFileError(f"format {got!r}, this collector reads {fmt}")
    return head


def read(path: Path) -> tuple[dict[str, Any], CubeState]:
    """The header and the state of a file; StateFileError (or OSError) if it cannot be read
    whole and consistent. The caller checks the header against the store."""
    members = read_members(path)
    head = read_header(members)
    try:
        return head, _state(head, members)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise StateFileError(f"inconsistent: {exc}") from exc


def read_members(
    path: Path, wanted: Callable[[str], bool] | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Every member of an .npz (or those `wanted`) read whole (CRC-checked); StateFileError
    if it cannot be."""
    try:
        with path.open("rb") as f:
            if f.read(4) != b"PK\x03\x04":  # numpy would take other files for other formats
                raise StateFileError("not a zip archive")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                members = {k: npz[k] for k in npz.files if wanted is None or wanted(k)}
    except (zipfile.BadZipFile, ValueError, EOFError, KeyError) as exc:
        raise StateFileError(f"unreadable: {exc}") from exc
    return members


def _state(head: Mapping[str, Any], m: Mapping[str, npt.NDArray[Any]]) -> CubeState:
    n, nf = int(head["combos"]), int(head["feature_rows"])
    act = m["act"].astype(np.uint64, copy=False)
    f_words = m["f_words"].astype(np.uint64, copy=False)
    combo_ids = m["combo_ids"].astype(np.int64, copy=False)
    if act.ndim != 2 or f_words.ndim != 2 or act.shape[0] != n or len(combo_ids) != n:
        raise StateFileError("array shapes do not match the header")
    if n and combo_ids.min() < 0:
        raise StateFileError("negative combination id")
    state = CubeState()
    state.cursor = (int(head["cursor"][0]), int(head["cursor"][1]))
    state.block0 = int(head["block0"])
    state.act, state.f_words = act, f_words
    state.row_of = np.full(int(combo_ids.max()) + 1 if n else 0, -1, np.int64)
    state.row_of[combo_ids] = np.arange(n)
    if (state.row_of[combo_ids] != np.arange(n)).any():  # an id twice: the later row won
        raise StateFileError("a combination id repeated")
    state.n = n
    codes: dict[str, Ints] = {}
    vocab: dict[str, list[str]] = {}
    for k, a in enumerate(ATTRS):
        values = text_names(m[f"vocab_{a}"], m[f"vocab_{a}_at"])
        c = m[f"codes_{a}"].astype(np.int64)
        if len(c) != n or (n and (c.min() < 0 or c.max() >= len(values))):
            raise StateFileError(f"codes of {a} out of range")
        state.vocabs[a] = Vocab(values)  # indexed when a new name needs a code
        state.codes[k] = c
        codes[a], vocab[a] = frozen(c), list(values)
    features = text_names(m["features"], m["features_at"])
    feature_ids = m["feature_ids"].astype(np.int64).tolist()
    if len(feature_ids) != len(features):
        raise StateFileError("feature ids do not match the feature names")
    state.features = Vocab(features)
    state.feature_ids = {fid: code for code, fid in enumerate(feature_ids)}
    f_combo, f_feat = m["f_combo"].astype(np.int64), m["f_feat"].astype(np.int64)
    keys, key_rows = m["f_keys"].astype(np.int64), m["f_key_rows"].astype(np.int64)
    if len(f_combo) != nf or len(f_feat) != nf or f_words.shape[0] != nf or len(keys) != nf:
        raise StateFileError("feature rows do not match the header")
    if nf and (f_combo.min() < 0 or f_combo.max() >= n or f_feat.min() < 0
               or f_feat.max() >= len(features) or (np.diff(keys) <= 0).any()):  # fmt: skip
        raise StateFileError("feature rows out of range")
    if nf and (
        key_rows.min() < 0
        or key_rows.max() >= nf
        or np.bincount(key_rows, minlength=nf).max() != 1
        or (keys != (f_combo[key_rows] << 32 | f_feat[key_rows])).any()
    ):
        raise StateFileError("feature row keys do not match the feature rows")
    state.f_combo, state.f_feat, state.nf = f_combo, f_feat, nf
    state.f_keys, state.f_key_rows = keys, key_rows
    state.snapshot = Snapshot(
        state.block0, frozen(act), frozen(first_days(act, state.block0)), codes, vocab,
        frozen(f_combo), frozen(f_feat), frozen(f_words), list(features),
    )  # fmt: skip
    return state
