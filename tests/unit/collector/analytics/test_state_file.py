"""A CubeState written by state_file and read back is the same state: the same snapshot, and
the same snapshots after every later refresh (new combinations, new features, torn reads). A
file that is not whole (flipped byte, truncated, another format, inconsistent members) is an
error on reading, never a state."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from collector.analytics import state_file
from collector.analytics.state import CubeState, Snapshot
from collector.analytics.state_file import Saved, StateFileError
from tests.kits.analytics import random_fleet, torn_refreshes


def same(a: Snapshot, b: Snapshot) -> None:
    assert a.block0 == b.block0 and a.features == b.features and a.vocab == b.vocab
    for name in ("act", "first", "f_combo", "f_feat", "f_words"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.codes.keys() == b.codes.keys()
    assert all(np.array_equal(a.codes[k], b.codes[k]) for k in a.codes)


def feed(state: CubeState, refresh: tuple[list, list, object]) -> None:  # type: ignore[type-arg]  # the kit's tuples
    combos, features, changes = refresh
    want_c, want_f = state.missing(changes)  # type: ignore[arg-type]  # Changes
    state.add_names([c for c in combos if c[0] in set(want_c)],
                    [f for f in features if f[0] in set(want_f)])  # fmt: skip
    state.apply(changes)  # type: ignore[arg-type]  # Changes


@pytest.mark.parametrize("seed", range(4))
def test_a_state_read_back_refreshes_as_the_original(tmp_path: Path, seed: int) -> None:
    fleet = random_fleet(random.Random(seed), devices=15)
    refreshes = torn_refreshes(fleet, 4)
    original = CubeState()
    for r in refreshes[:3]:
        feed(original, r)
    path = tmp_path / "s.npz"
    state_file.write(Saved.of(original), path, {"identity": "x"})
    head, restored = state_file.read(path)
    assert head["identity"] == "x" and restored.cursor == original.cursor
    same(original.snapshot, restored.snapshot)
    assert restored.n == original.n
    assert np.array_equal(
        restored.row_of[restored.row_of >= 0], original.row_of[original.row_of >= 0]
    )
    for r in refreshes[3:]:  # later rows: new combinations and features among them
        feed(original, r)
        feed(restored, r)
        same(original.snapshot, restored.snapshot)


def test_an_empty_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    state_file.write(Saved.of(CubeState()), path, {})
    _, restored = state_file.read(path)
    same(CubeState().snapshot, restored.snapshot)


def _written(tmp_path: Path) -> Path:
    state = CubeState()
    for r in torn_refreshes(random_fleet(random.Random(1), devices=15), 2):
        feed(state, r)
    path = tmp_path / "s.npz"
    state_file.write(Saved.of(state), path, {})
    return path


def test_a_flipped_byte_anywhere_in_the_data_is_refused(tmp_path: Path) -> None:
    path = _written(tmp_path)
    data = path.read_bytes()
    with zipfile.ZipFile(path) as z:  # one byte inside each member's data
        spots = [i.header_offset + 30 + len(i.filename) + i.file_size // 2 + 1
                 for i in z.infolist() if i.file_size > 130]  # fmt: skip
    assert len(spots) > 10
    for at in spots:
        bad = bytearray(data)
        bad[at] ^= 0x40
        path.write_bytes(bytes(bad))
        with pytest.raises(StateFileError):
            state_file.read(path)


@pytest.mark.parametrize("keep", [0, 100, 0.5, 0.99])
def test_a_truncated_file_is_refused(tmp_path: Path, keep: float) -> None:
    path = _written(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data)) if isinstance(keep, float) else keep])
    with pytest.raises(StateFileError):
        state_file.read(path)


def _rewrite(path: Path, change: dict[str, np.ndarray]) -> None:  # any array
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    members.update(change)
    with path.open("wb") as f:
        np.savez(f, **members)


def test_another_format_and_inconsistent_members_are_refused(tmp_path: Path) -> None:
    path = _written(tmp_path)
    with np.load(path) as npz:
        head = json.loads(npz["header"].tobytes())
        codes = npz["codes_device_type"].copy()
        combo_ids = npz["combo_ids"].copy()
        f_words = npz["f_words"].copy()
    older = {**head, "format": state_file.FORMAT - 1}
    cases = [
        {"header": np.frombuffer(json.dumps(older).encode(), np.uint8)},
        {"header": np.frombuffer(b"not json", np.uint8)},
        {"codes_device_type": codes + 100},  # codes beyond the vocabulary
        {"combo_ids": np.concatenate([combo_ids[:1], combo_ids[:-1]])},  # an id twice
        {"f_keys": np.zeros(0, np.int64)},
        # feature words of a block without activity words (pes_pairs relies on the same blocks)
        {"f_words": np.pad(f_words, ((0, 0), (0, 1)))},
    ]
    for change in cases:
        fresh = _written(tmp_path)
        _rewrite(fresh, change)
        with pytest.raises(StateFileError):
            state_file.read(fresh)


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        state_file.read(tmp_path / "none.npz")
