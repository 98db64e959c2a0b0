"""reports/devices.py: device codes kept between Fleet builds equal codes built anew, after
every kind of growth of their sources (new use names, new snapshot devices, new runs)."""

from __future__ import annotations

import numpy as np

from collector.reports.devices import DeviceCodes, device_codes
from collector.storage.runcache import RunColumns


def runs_of(names: list[str], device: list[int]) -> RunColumns:
    n = len(device)
    ints = np.zeros(n, np.int64)
    return RunColumns(names, ["t"], ["1.0"], np.asarray(device, np.int64), ints, ints, ints, ints)


def same(a: DeviceCodes, b: DeviceCodes) -> None:
    assert a.devices == b.devices and a.index == b.index
    for name in ("snap_codes", "run_codes", "use_codes", "present"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_kept_codes_equal_a_fresh_build_as_sources_grow() -> None:
    snap = ["d3", "d1"]
    run_names = ["d2", "d1", "d9"]
    runs = runs_of(run_names, [0, 1, 1])  # d9 has no run: not a Fleet device
    uses = ["d1", "x"]  # x: uses of a device the Fleet does not have, dropped
    kept = device_codes(None, snap, runs, uses)
    assert kept.devices == ("d1", "d2", "d3")
    assert kept.run_codes.tolist() == [1, 0, -1] and kept.use_codes.tolist() == [0, -1]

    uses += ["d3", "d2"]  # the use columns' names grew: only the tail is looked up
    reused = device_codes(kept, snap, runs, uses)
    assert reused.index is kept.index  # the same vocabulary, not rebuilt
    same(reused, device_codes(None, snap, runs, uses))

    uses2 = ["d2", "d3"]  # replaced (a range read whole): looked up again
    same(device_codes(reused, snap, runs, uses2), device_codes(None, snap, runs, uses2))

    snap2 = [*snap, "d0"]  # a new device in the snapshot: every code moves
    grown = device_codes(reused, snap2, runs, uses)
    assert grown.devices == ("d0", "d1", "d2", "d3") and grown.index is not kept.index
    same(grown, device_codes(None, snap2, runs, uses))
    # grown from reused by inserting d0: each kept code moved past it
    assert grown.grown_from is reused.devices and grown.inserted.tolist() == [0]
    moved = grown.moved(np.arange(len(reused.devices), dtype=np.int64))
    assert [grown.devices[c] for c in moved.tolist()] == list(reused.devices)

    runs2 = runs_of(run_names, [0, 1, 2])  # d9's first run
    with_d9 = device_codes(grown, snap2, runs2, uses)
    assert with_d9.devices[-1] == "d9" and with_d9.grown_from is grown.devices
    same(with_d9, device_codes(None, snap2, runs2, uses))

    run_names2 = [*run_names, "d5"]  # a new run name with a run
    runs3 = runs_of(run_names2, [0, 1, 2, 3])
    with_d5 = device_codes(with_d9, snap2, runs3, uses)
    assert with_d5.inserted.tolist() == [4]  # d5 goes before d9
    same(with_d5, device_codes(None, snap2, runs3, uses))
    renamed = ["d3", "d7"]  # a kept name gone (another store's state): built anew
    fresh = device_codes(with_d5, renamed, runs3, uses)
    assert fresh.grown_from == ()
    same(fresh, device_codes(None, renamed, runs3, uses))
