"""reports/release_file.py: a kept release Fleet, its measurements, counters, run columns and
device codes written and read back equal (use counts of any size, none at all); a truncated
file, another format and inconsistent members are errors, never a Fleet."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from collector.analytics.releases import ReleaseParams, measure
from collector.analytics.releases_fleet import Event, Fleet, fleet_from_events
from collector.analytics.state_file import StateFileError
from collector.reports.devices import device_codes
from collector.reports.release_file import CodeParts, SavedRelease, read, write
from collector.storage.runcache import RunColumns

D = date(2026, 3, 2)


def fleet(seed: int, big: bool = False) -> Fleet:
    rng = random.Random(seed)
    events = []
    for k in range(12):
        up = rng.randrange(5, 30)
        for d in range(40):
            fw = "2.0" if d >= up else "1.0"
            day = (D + timedelta(days=d)).toordinal()
            dev, typ = f"d{k:02d}", ("press", "lathe")[k % 2]
            for n, feat in enumerate(rng.sample(["jog", "cut", "export"], rng.randrange(0, 3))):
                for r in range(300 if big and k == 3 else 1):  # counts past a byte
                    events.append(Event(dev, typ, fw, "feature_use", feat, day,
                                        day * 86_400_000 + n, f"e{k}-{d}-{n}-{r}"))  # fmt: skip
            events.append(Event(dev, typ, fw, "heartbeat", None, day, day * 86_400_000 + 99,
                                f"h{k}-{d}"))  # fmt: skip
    f = fleet_from_events(events, D.toordinal() - 10, 60)
    return dataclasses.replace(f, uses=f.uses.astype(np.int32))  # as build_fleet's


def saved(f: Fleet, with_codes: bool = True) -> SavedRelease:
    runs = RunColumns(list(f.devices), list(f.types), list(f.firmwares), f.run_device,
                      f.run_type, f.run_firmware, f.run_first_day, f.run_last_day)  # fmt: skip
    codes = device_codes(None, list(f.devices), runs, [])
    params = ReleaseParams(D + timedelta(days=5), D + timedelta(days=30), D + timedelta(days=36),
                           4, core_features={"press": ("jog",)})  # fmt: skip
    return SavedRelease(
        41, {d: 3 + i for i, d in enumerate(f.devices)}, f, runs, 17,
        CodeParts.of(codes) if with_codes else None, [measure(f, params)],
    )  # fmt: skip


def same(a: object, b: object) -> None:
    for fld in dataclasses.fields(a):  # type: ignore[arg-type]  # dataclass instances
        x, y = getattr(a, fld.name), getattr(b, fld.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        elif dataclasses.is_dataclass(x):
            same(x, y)
        elif isinstance(x, dict) and fld.name == "sums":
            assert x.keys() == y.keys()
            for k in x:
                same(x[k], y[k])
        else:
            assert x == y, fld.name


@pytest.mark.parametrize("big", [False, True])
def test_a_kept_fleet_reads_back_equal(tmp_path: Path, big: bool) -> None:
    s = saved(fleet(1, big))
    path = tmp_path / "r.npz"
    write(s, path, {"identity": "x", "schema": 7})
    head, got = read(path)
    assert head["identity"] == "x" and head["schema"] == 7
    same(got.fleet, s.fleet)
    assert got.seen == 41 and got.runs_cursor == 17 and got.counters == s.counters
    assert list(got.runs.names) == list(s.runs.names)
    for k in ("device", "type", "firmware", "first_day", "last_day"):
        assert np.array_equal(getattr(got.runs, k), getattr(s.runs, k))
    assert got.codes is not None and s.codes is not None
    assert got.codes.devices is got.fleet.devices  # the update adjusts its measurements
    codes, want = got.codes.codes(), s.codes.codes()
    assert codes.index == want.index and codes.run_names == want.run_names
    for k in ("present", "snap_codes", "run_codes"):
        assert np.array_equal(getattr(codes, k), getattr(want, k))
    assert len(got.measured) == 1
    same(got.measured[0], s.measured[0])


def test_no_uses_and_no_codes(tmp_path: Path) -> None:
    f = fleet(2)
    s = saved(dataclasses.replace(f, uses=np.zeros_like(f.uses)), with_codes=False)
    write(s, tmp_path / "r.npz", {})
    _, got = read(tmp_path / "r.npz")
    same(got.fleet, s.fleet)
    assert got.codes is None


def test_broken_files_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    write(saved(fleet(3)), path, {})
    good = path.read_bytes()
    for bad in (good[: len(good) // 2], b"", b"PK\x03\x04 and then nothing"):
        path.write_bytes(bad)
        with pytest.raises(StateFileError):
            read(path)
    path.write_bytes(good)
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    for key, value in (
        ("header", np.frombuffer(members["header"].tobytes().replace(b'"format": 1',
                                                                     b'"format": 2'), np.uint8)),
        ("act_device", members["act_device"] + 1000),  # codes past the devices
        ("uses", members["uses"][:-1]),  # a device's counts missing
        ("counter_values", members["counter_values"][:-1]),
        ("m0_day", members["m0_day"][:-1]),
    ):  # fmt: skip
        with path.open("wb") as fh:
            np.savez(fh, **(members | {key: value}))
        with pytest.raises(StateFileError):
            read(path)
