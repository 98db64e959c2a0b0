"""A kept release Fleet written to one file and read back: what lets a restarted collector answer
its first `/v1/releases` without reading every run and every feature_use count and building the
Fleet (reports/release_keep.py decides when, and whether a file may be trusted).

The same container as the analytics state's (analytics/state_file.py): an uncompressed .npz,
CRC-32 per member, written to a temporary file and renamed. It holds
- the Fleet of one range of days: its vocabularies as texts, its code columns as int32, its
  day bits packed 8 days a byte, and its use counts only over the columns that hold any (the
  others are zeros), in the narrowest unsigned type that fits them;
- what the Fleet is valid for: `Store.events_seen` and the per-device counters read before its
  sources (an update after a restart re-reads the devices whose counter moved since);
- the engine's measurements of that Fleet (`Measured`, per parameters asked for), which depend
  on the Fleet and their parameters only;
- the run cache's columns and cursor (storage/runcache.py), so that an update reads only the
  runs changed since, and the device codes of the Fleet (reports/devices.py) where they are the
  kept ones, so that an update does not sort every name again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.analytics.releases import Measured, ReleaseParams, TransitionTable
from collector.analytics.releases_fleet import Fleet
from collector.analytics.releases_groups import Measures, Sums
from collector.analytics.state_file import (
    StateFileError,
    names_text,
    read_header,
    read_members,
    text_names,
    write_members,
)
from collector.reports.devices import DeviceCodes
from collector.storage.runcache import RunColumns

FORMAT = 1  # bump when the layout or the meaning of any member changes
Ints = npt.NDArray[np.int64]
_FLEET_INTS = (
    "run_device", "run_type", "run_firmware", "run_first_day", "run_last_day",
    "act_device", "act_type", "act_firmware", "use_device", "use_type", "use_feature",
)  # fmt: skip
_RUN_INTS = ("device", "type", "firmware", "first_day", "last_day")


@dataclass(frozen=True, slots=True)
class CodeParts:
    """A DeviceCodes without its name -> code dict (made when first needed: ~0.1 s a million),
    its run names a prefix of the kept run columns' names, its use names none."""

    devices: tuple[str, ...]
    snap_names: Sequence[str]
    run_names: list[str]
    present: Ints
    snap_codes: Ints
    run_codes: Ints

    @classmethod
    def of(cls, codes: DeviceCodes) -> CodeParts:
        return cls(codes.devices, codes.snap_names, codes.run_names, codes.present,
                   codes.snap_codes, codes.run_codes)  # fmt: skip

    def codes(self) -> DeviceCodes:
        index = dict(zip(self.devices, range(len(self.devices)), strict=True))
        empty = np.zeros(0, np.int64)
        return DeviceCodes(self.devices, index, self.snap_names, self.run_names, self.present,
                           self.snap_codes, self.run_codes, [], empty)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SavedRelease:
    """A kept Fleet (with use counts) and what it is valid for, taken on the event loop; the
    arrays are not written to while it is being saved (the caller holds the Fleet as read)."""

    seen: int
    counters: Mapping[str, int]
    fleet: Fleet
    runs: RunColumns
    runs_cursor: int
    codes: CodeParts | None  # the Fleet's device codes, None where they were not kept
    measured: Sequence[Measured] = ()  # measurements of the Fleet (with their parameters)


def _ints(a: npt.NDArray[Any]) -> Ints:
    out: Ints = np.asarray(a, np.int64)
    return out


def _small(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Non-negative counts in the narrowest unsigned type that holds them."""
    top = int(a.max()) if a.size else 0
    for t in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(t).max:
            return a.astype(t)
    return a.astype(np.int64)


def write(saved: SavedRelease, path: Path, header: Mapping[str, Any]) -> int:
    """Write atomically (analytics/state_file.py's write_members); returns the size in bytes."""
    f, runs = saved.fleet, saved.runs
    m: dict[str, npt.NDArray[Any]] = {k: getattr(f, k).astype(np.int32) for k in _FLEET_INTS}
    for k in ("devices", "types", "firmwares", "features"):
        m[k], m[f"{k}_at"] = names_text(getattr(f, k))
    m["act_bits"] = np.packbits(f.act_days, axis=1, bitorder="little")
    m["use_bits"] = np.packbits(f.use_days, axis=1, bitorder="little")
    cols = np.flatnonzero(f.uses.any(axis=0))
    c0, c1 = (int(cols[0]), int(cols[-1]) + 1) if len(cols) else (0, 0)
    m["uses"] = _small(f.uses[:, c0:c1])
    m["counters"], m["counters_at"] = names_text(list(saved.counters))
    m["counter_values"] = np.fromiter(saved.counters.values(), np.int64, len(saved.counters))
    m["run_names"], m["run_names_at"] = names_text(list(runs.names))
    m["run_types"], m["run_types_at"] = names_text(list(runs.types))
    m["run_firmwares"], m["run_firmwares_at"] = names_text(list(runs.firmwares))
    for k in _RUN_INTS:
        m[f"runs_{k}"] = getattr(runs, k).astype(np.int32)
    c = saved.codes
    if c is not None and list(runs.names[: len(c.run_names)]) != c.run_names:
        c = None  # its run names are not the kept runs' first: an update makes them anew
    if c is not None:
        m["snap_names"], m["snap_names_at"] = names_text(list(c.snap_names))
        m["present"], m["snap_codes"] = c.present.astype(np.int32), c.snap_codes.astype(np.int32)
        m["run_codes"] = c.run_codes.astype(np.int32)
    kept = [x for x in saved.measured if x.params is not None]
    for i, x in enumerate(kept):
        m |= _measured_members(i, x)
    head = {
        **header, "format": FORMAT, "measured": [_measured_head(x) for x in kept],
        "seen": saved.seen, "runs_cursor": saved.runs_cursor, "day0": f.day0,
        "n_days": f.n_days, "uses_cols": [c0, c1], "codes": None if c is None else len(c.run_names),
    }  # fmt: skip
    m["header"] = np.frombuffer(json.dumps(head).encode(), np.uint8)
    return write_members(m, path)


@dataclass(frozen=True, slots=True)
class Quick:
    """What answers a report whose measurement the file keeps, while nothing was written since:
    the measurements and the Fleet's vocabularies (`report_rows` reads nothing else of it, so
    `stub` is the Fleet without its rows), and the use counts the store is sampled against."""

    seen: int
    stub: Fleet
    devices: list[str]
    measured: Sequence[Measured]
    uses_cols: tuple[int, int]
    band: npt.NDArray[Any]  # the use counts of days uses_cols (see `write`)

    def uses_of(self, rows: Sequence[int]) -> Ints:
        out = np.zeros((len(rows), self.stub.n_days), np.int64)
        out[:, self.uses_cols[0] : self.uses_cols[1]] = self.band[list(rows)]
        return out


def read_quick(path: Path) -> tuple[dict[str, Any], Quick]:
    """`Quick` of a file: a few members (MBs, not the Fleet's GB at a million devices)."""
    small = {"header", "uses"} | {
        f"{k}{at}" for k in ("devices", "types", "firmwares", "features") for at in ("", "_at")
    }  # fmt: skip
    members = read_members(path, lambda k: k in small or (k[:1] == "m" and k[1:2].isdigit()))
    head = read_header(members, FORMAT)
    try:
        day0, n_days = int(head["day0"]), int(head["n_days"])
        none, empty = np.zeros(0, np.int64), np.zeros((0, n_days), np.bool_)
        stub = Fleet(
            day0=day0, n_days=n_days, devices=(), types=tuple(_names(members, "types")),
            firmwares=tuple(_names(members, "firmwares")),
            features=tuple(_names(members, "features")), act_days=empty, use_days=empty,
            uses=np.zeros((0, n_days), np.int32), **dict.fromkeys(_FLEET_INTS, none),
        )  # fmt: skip
        devices = _names(members, "devices")
        c0, c1 = (int(c) for c in head["uses_cols"])
        band = members["uses"]
        if not 0 <= c0 <= c1 <= n_days or band.shape != (len(devices), c1 - c0):
            raise StateFileError("use counts do not match the Fleet's devices and days")
        n = len(devices)
        measured = [_measured(i, h, members, n) for i, h in enumerate(head["measured"])]
        return head, Quick(int(head["seen"]), stub, devices, measured, (c0, c1), band)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise StateFileError(f"inconsistent: {exc}") from exc


def read(path: Path) -> tuple[dict[str, Any], SavedRelease]:
    """The header and the content of a file; StateFileError (or OSError) if it cannot be read
    whole and consistent. The caller checks the header against the store."""
    members = read_members(path)
    head = read_header(members, FORMAT)
    try:
        return head, _saved(head, members)
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise StateFileError(f"inconsistent: {exc}") from exc


def _names(m: Mapping[str, npt.NDArray[Any]], key: str) -> list[str]:
    return text_names(m[key], m[f"{key}_at"])


def _in_range(a: Ints, n: int, what: str, low: int = 0) -> None:
    if len(a) and (int(a.min()) < low or int(a.max()) >= n):
        raise StateFileError(f"{what} out of range")


def _saved(head: Mapping[str, Any], m: Mapping[str, npt.NDArray[Any]]) -> SavedRelease:
    day0, n_days = int(head["day0"]), int(head["n_days"])
    devices, types, fws, features = (_names(m, k) for k in ("devices", "types", "firmwares",
                                                              "features"))  # fmt: skip
    a = {k: _ints(m[k]) for k in _FLEET_INTS}
    n_dev = len(devices)
    for k, n in (("device", n_dev), ("type", len(types)), ("firmware", len(fws))):
        _in_range(a[f"run_{k}"], n, f"run_{k}")
        _in_range(a[f"act_{k}"], n, f"act_{k}")
    for k, n in (("device", n_dev), ("type", len(types)), ("feature", len(features))):
        _in_range(a[f"use_{k}"], n, f"use_{k}")
    act = np.unpackbits(m["act_bits"], axis=1, count=n_days, bitorder="little").view(np.bool_)
    use = np.unpackbits(m["use_bits"], axis=1, count=n_days, bitorder="little").view(np.bool_)
    c0, c1 = (int(c) for c in head["uses_cols"])
    band = m["uses"]
    if not 0 <= c0 <= c1 <= n_days or band.shape != (n_dev, c1 - c0):
        raise StateFileError("use counts do not match the Fleet's devices and days")
    uses = np.zeros((n_dev, n_days), np.int32)
    uses[:, c0:c1] = band
    fleet = Fleet(day0=day0, n_days=n_days, devices=tuple(devices), types=tuple(types),
                  firmwares=tuple(fws), features=tuple(features), **a,
                  act_days=act, use_days=use, uses=uses)  # fmt: skip
    names = _names(m, "counters")
    values = _ints(m["counter_values"])
    if len(values) != len(names):
        raise StateFileError("counters do not match their devices")
    counters = dict(zip(names, values.tolist(), strict=True))
    run_names = _names(m, "run_names")
    r = {k: _ints(m[f"runs_{k}"]) for k in _RUN_INTS}
    if len({v.shape for v in r.values()}) != 1:
        raise StateFileError("run columns differ in length")
    run_types, run_fws = _names(m, "run_types"), _names(m, "run_firmwares")
    for k, n in (("device", len(run_names)), ("type", len(run_types)),
                 ("firmware", len(run_fws))):  # fmt: skip
        _in_range(r[k], n, f"runs' {k}")
    runs = RunColumns(run_names, run_types, run_fws, **r)
    codes = None
    if head["codes"] is not None:
        nr = int(head["codes"])
        snap_names = _names(m, "snap_names")
        present, snap_codes = _ints(m["present"]), _ints(m["snap_codes"])
        run_codes = _ints(m["run_codes"])
        if nr > len(run_names) or len(run_codes) != nr or len(snap_codes) != len(snap_names):
            raise StateFileError("device codes do not match their names")
        _in_range(present, nr, "present runs")
        _in_range(snap_codes, n_dev, "device codes", -1)
        _in_range(run_codes, n_dev, "device codes", -1)
        codes = CodeParts(fleet.devices, snap_names, run_names[:nr], present, snap_codes,
                          run_codes)  # fmt: skip
    measured = [_measured(i, h, m, n_dev) for i, h in enumerate(head["measured"])]
    return SavedRelease(
        int(head["seen"]), counters, fleet, runs, int(head["runs_cursor"]), codes, measured
    )


_TABLE = ("device", "device_type", "from_fw", "to_fw", "day", "status")
_VALUES = ("pre", "post", "ctrl", "has_ctrl")
_SUMS = ("u", "n_ctrl", "total", "n_trans")


def _measured_head(x: Measured) -> dict[str, Any]:
    p = x.params
    assert p is not None  # only those with parameters are written
    return {
        "start": p.start.isoformat(), "end": p.end.isoformat(), "as_of": p.as_of.isoformat(),
        "window": p.window, "core_features": {k: list(v) for k, v in p.core_features.items()},
        "resamples": p.resamples, "seed": p.seed, "device_type": p.device_type,
        "metric": p.metric, "cores": {k: sorted(v) for k, v in x.cores.items()},
        "sums": [list(k) for k in x.sums],
    }  # fmt: skip


def _measured_members(i: int, x: Measured) -> dict[str, npt.NDArray[Any]]:
    m = {f"m{i}_{k}": getattr(x.table, k) for k in _TABLE}
    m |= {f"m{i}_{k}": getattr(x.values, k) for k in _VALUES}
    for j, s in enumerate(x.sums.values()):
        m |= {f"m{i}_s{j}_{k}": getattr(s, k) for k in _SUMS}
    return m


def _measured(
    i: int, h: Mapping[str, Any], m: Mapping[str, npt.NDArray[Any]], n_dev: int
) -> Measured:
    params = ReleaseParams(
        date.fromisoformat(h["start"]), date.fromisoformat(h["end"]),
        date.fromisoformat(h["as_of"]), int(h["window"]),
        core_features={str(k): tuple(v) for k, v in h["core_features"].items()},
        resamples=int(h["resamples"]), seed=int(h["seed"]), device_type=h["device_type"],
        metric=h["metric"],
    )  # fmt: skip
    table = TransitionTable(**{k: _ints(m[f"m{i}_{k}"]) for k in _TABLE})
    n = len(table.device)
    if any(len(getattr(table, k)) != n for k in _TABLE):
        raise StateFileError("a measurement's transitions differ in length")
    _in_range(table.device, n_dev, "transitions' devices")
    pre, post, ctrl = (m[f"m{i}_{k}"].astype(np.float64) for k in ("pre", "post", "ctrl"))
    has_ctrl = m[f"m{i}_has_ctrl"].astype(np.bool_)
    if pre.shape != post.shape or pre.shape != ctrl.shape or pre.shape[1:] != (n,):
        raise StateFileError("a measurement's values do not match its transitions")
    if has_ctrl.shape != (n,):
        raise StateFileError("a measurement's controls do not match its transitions")
    sums = {}
    for j, key in enumerate(h["sums"]):
        s = Sums(*(_ints(m[f"m{i}_s{j}_{k}"]) for k in _SUMS))
        if s.total.shape != (pre.shape[0], len(s.u)) or not len(s.u) == len(s.n_ctrl) == len(
            s.n_trans
        ):
            raise StateFileError("a measurement's sums do not match their days")
        sums[(int(key[0]), int(key[1]))] = s
    cores = {str(k): frozenset(v) for k, v in h["cores"].items()}
    return Measured(table, Measures(pre, post, ctrl, has_ctrl), params, cores, sums)
