"""Warm start (collector/reports/warmstart.py) on both backends: a restart that reads the kept
analytics state answers exactly as a restart without it and as the reference, including rows
written after the state was kept; a file that is corrupt, truncated, of another format or of
another store (a recreated database, a restored older copy) is refused with a log line and the
full load answers; two processes writing the file at once never leave a torn one."""

from __future__ import annotations

import logging
import multiprocessing
import random
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector.analytics import state_file
from collector.analytics.state_file import Saved
from collector.reports import warmstart
from collector.reports.query import make_query
from collector.reports.tables import health_rows, pes_rows
from collector.settings import PesSettings, StorageSettings
from collector.storage import Store, open_store
from tests.kits.analytics import (
    Event,
    random_fleet,
    reference_pes,
    state_from_events,
    write_events,
)
from tests.kits.pes import PgDatabase, kept_storage

SETTINGS = PesSettings(core_features={"press-x": ["calibrate", "export"], "*": ["jog"]})
START, END = date(2026, 2, 1), date(2026, 2, 21)
GROUP = ["device_type", "label:site"]
LOG = "collector.reports.warmstart"


@asynccontextmanager
async def process(url: str, tmp_path: Path, *, warm: bool = True) -> AsyncIterator[Store]:
    """What one collector process holds: an open store, its state kept when `warm`, written
    at the end as `serve` does on shutdown."""
    async with open_store(url) as store:
        if warm:
            warmstart.keep_warm(store, kept_storage(url, tmp_path))
        yield store
        await warmstart.flush(store)


async def answers(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    q = make_query(SETTINGS, start=START, end=END, group_by=",".join(GROUP))
    hq = make_query(SETTINGS, start=START, end=END, group_by="", entity="account")
    return await pes_rows(store, SETTINGS, q), await health_rows(store, SETTINGS, hq)


def check_reference(rows: list[dict[str, Any]], events: Sequence[Event]) -> None:
    q = make_query(SETTINGS, start=START, end=END, group_by=",".join(GROUP))
    want = reference_pes(events, GROUP, "device", q.params(SETTINGS))
    assert [(r["device_type"], r["label:site"]) for r in rows] == [w.segment for w in want]
    for r, w in zip(rows, want, strict=True):
        assert (r["active"], r["new"], r["dropped"]) == (w.active, w.new, w.dropped)
        assert r["pes"] == (None if w.pes is None else pytest.approx(w.pes, abs=1e-9))


def fleet(seed: int, devices: int = 14) -> list[Event]:
    return sorted(random_fleet(random.Random(seed), history=60, devices=devices),
                  key=lambda e: e["ts"])  # fmt: skip


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG]


async def test_a_restart_reads_the_kept_state_and_what_was_written_since(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    events = fleet(8)
    first, later = events[: len(events) // 2], events[len(events) // 2 :]
    async with process(url, tmp_path) as store:
        await write_events(store, first)
        await answers(store)  # the full load, then the file
    async with process(url, tmp_path, warm=False) as store:
        await write_events(store, later[:200])  # written while the state is not being kept
    assert any("no analytics snapshot" in m for m in messages(caplog))
    caplog.clear()
    async with process(url, tmp_path) as store:
        await write_events(store, later[200:])
        warm = await answers(store)
        assert any("analytics state read from" in m for m in messages(caplog)), messages(caplog)
    async with process(url, tmp_path, warm=False) as store:
        cold = await answers(store)
    assert warm == cold
    check_reference(warm[0], events)
    caplog.clear()
    async with process(url, tmp_path) as store:  # the shutdown wrote the state of all of it
        assert await answers(store) == cold
        assert not any("refused" in m for m in messages(caplog))


async def _refused(url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                   events: list[Event]) -> None:  # fmt: skip
    caplog.clear()
    async with process(url, tmp_path) as store:
        got = await answers(store)
    refusals = [m for m in messages(caplog) if "refused" in m]
    assert len(refusals) == 1, messages(caplog)
    async with process(url, tmp_path, warm=False) as store:
        assert got == await answers(store)
    check_reference(got[0], events)


def _path(url: str, tmp_path: Path) -> Path:
    path = warmstart.snapshot_path(kept_storage(url, tmp_path))
    assert path is not None
    return path


async def test_corrupt_truncated_and_older_files_are_refused(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    events = fleet(3)
    async with process(url, tmp_path) as store:
        await write_events(store, events)
        await answers(store)
    path = _path(url, tmp_path)
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0x08
    for bad in (bytes(flipped), good[: len(good) // 2], b""):
        path.write_bytes(bad)
        await _refused(url, tmp_path, caplog, events)
    path.write_bytes(good)  # the same state under another format number
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    members["header"] = np.frombuffer(
        members["header"].tobytes().replace(b'"format": 1', b'"format": 0'), np.uint8
    )
    with path.open("wb") as f:
        np.savez(f, **members)
    await _refused(url, tmp_path, caplog, events)


async def test_the_state_of_another_store_is_refused(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another fleet's state at this store's path: same backend, same schema, different rows."""
    caplog.set_level(logging.INFO, LOG)
    other = tmp_path / "other"
    other.mkdir()
    other_url = f"sqlite:///{other}/c.db" if url.startswith("sqlite:") else url
    if not url.startswith("sqlite:"):
        async with PgDatabase() as db:  # a second database on the same cluster
            other_url = db.dsn
            await _another(url, other_url, tmp_path, other, caplog)
    else:
        await _another(url, other_url, tmp_path, other, caplog)


async def _another(url: str, other_url: str, tmp_path: Path, other: Path,
                   caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    # Theirs smaller: its cursor is within this store's, so the rows and names must differ.
    mine, theirs = fleet(5, devices=20), fleet(6, devices=10)
    async with process(other_url, other) as store:
        await write_events(store, theirs)
        await answers(store)
    async with process(url, tmp_path, warm=False) as store:
        await write_events(store, mine)
    _path(url, tmp_path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_path(other_url, other), _path(url, tmp_path))
    await _refused(url, tmp_path, caplog, mine)


async def test_a_restored_older_copy_of_the_store_is_not_answered_from_a_newer_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite: the store file is put back to a backup older than the kept state, then other
    events arrive (new combinations take the ids the state gave to others)."""
    caplog.set_level(logging.INFO, LOG)
    url = f"sqlite:///{tmp_path}/c.db"
    base, newer, after = fleet(11), fleet(12), fleet(13)
    async with process(url, tmp_path, warm=False) as store:
        await write_events(store, base)
    shutil.copy(tmp_path / "c.db", tmp_path / "backup.db")
    async with process(url, tmp_path) as store:
        await write_events(store, newer)
        await answers(store)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"c.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", tmp_path / "c.db")
    kept = _path(url, tmp_path).read_bytes()
    await _refused(url, tmp_path, caplog, base)  # as restored: the file's cursor is beyond
    assert any("beyond the store's newest" in m for m in messages(caplog))
    _path(url, tmp_path).write_bytes(kept)  # the refused start wrote its own: put it back
    async with process(url, tmp_path, warm=False) as store:
        for k in range(0, len(after), 100):  # as many writes (versions) as the newer state saw
            await write_events(store, after[k : k + 100])
    await _refused(url, tmp_path, caplog, base + after)


def _writer(path: str, seed: int, rounds: int) -> None:
    state = state_from_events(fleet(seed, devices=30))
    saved = Saved.of(state)
    for _ in range(rounds):
        state_file.write(saved, Path(path), {"writer": seed})


def test_two_processes_writing_at_once_leave_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), seed, 40)) for seed in (1, 2)]
    for p in procs:
        p.start()
    seen = set()
    while any(p.is_alive() for p in procs):
        if path.exists():
            head, state = state_file.read(path)  # never torn: raises if it were
            want = state_from_events(fleet(head["writer"], devices=30)).snapshot
            assert np.array_equal(state.snapshot.act, want.act)
            seen.add(head["writer"])
    assert all(p.exitcode == 0 for p in procs)
    assert seen
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


async def test_off_and_in_memory_stores_keep_nothing(tmp_path: Path) -> None:
    assert warmstart.snapshot_path(StorageSettings(url="sqlite::memory:")) is None
    assert (
        warmstart.snapshot_path(
            StorageSettings(url=f"sqlite:///{tmp_path}/c.db", analytics_snapshot=False)
        )
        is None
    )
    pg = StorageSettings(url="postgresql://u:secret@h:5432/db")
    assert warmstart.snapshot_path(pg) is None  # PostgreSQL: only with a directory
    with_dir = warmstart.snapshot_path(pg.model_copy(update={"analytics_snapshot_dir": "/d"}))
    other_pw = warmstart.snapshot_path(
        StorageSettings(url="postgresql://u:other@h:5432/db", analytics_snapshot_dir="/d")
    )
    assert with_dir == other_pw and with_dir is not None and "secret" not in str(with_dir)
