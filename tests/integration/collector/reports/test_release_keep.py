"""The release Fleet kept in a file across restarts (reports/release_keep.py, release_file.py) on
both backends: a restart that reads the file answers exactly as a process that builds, array for
array and row for row (and as the reference), with or without writes since the file was saved
(they are taken by the after-write update); a file that is corrupt, truncated, of an older
format, of another store, or ahead of the store (restored from an older copy) is refused with
one log line and the Fleet is built."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import struct
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from collector.analytics.releases import measure, measure_key
from collector.reports import release_file, release_keep, releases, warm_up, warmstart
from collector.reports.releases import (
    AHEAD,
    ReleaseQuery,
    flush_releases,
    load_fleet,
    make_release_query,
    release_rows,
    rollout_table,
)
from collector.storage import Store, open_store
from tests.integration.collector.reports.test_releases_update import (
    Plan,
    assert_same_fleet,
    assert_same_measured,
)
from tests.kits.pes import PgDatabase, kept_storage
from tests.kits.releases import (
    AS_OF,
    DAYS,
    END,
    SETTINGS,
    START,
    TODAY,
    D,
    Ev,
    W,
    Writer,
    assert_matches_oracle,
    ev,
    small_fleet,
)
from tests.oracles.releases_reference import reference_rows

LOG = "collector.reports.release_keep"
WRITES = ("late", "days", "new_devices", "late", "split", "days", "new_firmware")


def path_of(url: str, tmp_path: Path) -> Path:
    path = release_keep.release_path(kept_storage(url, tmp_path))
    assert path is not None
    return path


@asynccontextmanager
async def process(url: str, tmp_path: Path, *, keep: bool = True) -> AsyncIterator[Store]:
    """One collector process: its files kept when `keep`, written at the end as `serve` does."""
    async with open_store(url) as store:
        if keep:
            warmstart.keep_warm(store, kept_storage(url, tmp_path))
            release_keep.keep(store, kept_storage(url, tmp_path))
        yield store
        await warmstart.flush(store)
        await flush_releases(store)


def query() -> ReleaseQuery:
    return make_release_query(SETTINGS, start=START, end=END, window=W, as_of=AS_OF, today=TODAY)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG]


async def check_same_as_a_build(store: Store, url: str, events: list[Ev]) -> None:
    """The kept Fleet (the warm-up's, covering the query) and its measurements equal a fresh
    process's build, and so do the report and the rollout; the report is the reference's."""
    q = query()
    got = await release_rows(store, SETTINGS, q)  # first: as a restart's first request
    async with open_store(url) as fresh:
        assert got == await release_rows(fresh, SETTINGS, q)
    kept = await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)
    f = kept.fleet
    async with open_store(url) as fresh:
        assert_same_fleet(f, (await load_fleet(fresh, f.day0, f.day0 + f.n_days - 1)).fleet)
    for m in kept.measured.values():
        assert m.params is not None
        assert_same_measured(m, measure(f, m.params))
    async with open_store(url) as fresh:
        assert got == await release_rows(store, SETTINGS, q)
        assert await rollout_table(store, q) == await rollout_table(fresh, q)
    assert_matches_oracle(got, reference_rows(events, START, END, AS_OF, W, SETTINGS.core_features))


async def first_process(url: str, tmp_path: Path, seed: int) -> tuple[Writer, Plan]:
    """A process that stores a fleet, warms up (the default report's Fleet and measurement,
    written to the file at once), answers the query (a second measurement) and stops."""
    rng = random.Random(seed)
    base = small_fleet(rng, D, DAYS, devices=14)
    cut = D + timedelta(days=19)
    w, plan = Writer(), Plan(rng, base, cut)
    async with process(url, tmp_path) as store:
        await w.write(store, [e for e in base if e["day"] < cut])
        await warm_up(store, SETTINGS, today=TODAY)
        await release_rows(store, SETTINGS, query())
    return w, plan


async def test_a_restart_reads_the_kept_fleet_and_its_measurements(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    w, _ = await first_process(url, tmp_path, 3)
    assert path_of(url, tmp_path).exists()
    async with process(url, tmp_path) as store:
        q = query()
        rows = await release_rows(store, SETTINGS, q)  # from the file's measurements alone
        assert any("release measurements read from" in m for m in messages(caplog))
        assert store not in releases._FLEETS  # no Fleet read or built for it
        other = make_release_query(SETTINGS, start=START, end=END, window=W + 1, as_of=AS_OF,
                                   today=TODAY)  # fmt: skip
        other_rows = await release_rows(store, SETTINGS, other)  # not measured: the Fleet
        assert any("release Fleet read from" in m for m in messages(caplog)), messages(caplog)
        kept = await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)
        # Nothing written since: the file's Fleet and both measurements, not built again.
        assert kept.updates == 0 and measure_key(q.params(SETTINGS)) in kept.measured
        assert len(kept.measured) == 3
        await check_same_as_a_build(store, url, w.events)
    async with open_store(url) as fresh:
        assert rows == await release_rows(fresh, SETTINGS, q)
        assert other_rows == await release_rows(fresh, SETTINGS, other)
    assert not any("refused" in m for m in messages(caplog))
    later = TODAY + timedelta(days=AHEAD)  # a restart days later: its default report is inside
    async with process(url, tmp_path) as store:
        await warm_up(store, SETTINGS, today=later)
        default = make_release_query(SETTINGS, today=later)
        w_ = default.window
        lo, hi = default.start.toordinal() - w_, default.end.toordinal() + w_
        got = await load_fleet(store, lo, hi)
        assert got.fleet.day0 == kept.fleet.day0 and got.fleet.n_days == kept.fleet.n_days
        assert got.updates == 0 and got.written  # the file's, not built
        rows = await release_rows(store, SETTINGS, default)
    async with open_store(url) as fresh:
        assert rows == await release_rows(fresh, SETTINGS, default)


@pytest.mark.parametrize("seed", [3, 8])
async def test_writes_since_the_file_are_taken_by_the_update(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, seed: int
) -> None:
    """The file from before N writes (made by a process that does not keep it): the first
    request updates the file's Fleet for the devices written (runs read whole), equal to a
    build; after more writes in the same process, again; the next restart reads the file its
    shutdown wrote."""
    caplog.set_level(logging.INFO, LOG)
    w, plan = await first_process(url, tmp_path, seed)
    async with process(url, tmp_path, keep=False) as store:
        for kind in WRITES:
            await w.write(store, plan.batch(kind, w.events))
    async with process(url, tmp_path) as store:
        await check_same_as_a_build(store, url, w.events)
        assert any("release Fleet read from" in m for m in messages(caplog)), messages(caplog)
        q = query()
        kept = await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)
        assert kept.updates == 1  # the file's Fleet updated, not the days built
        for kind in ("late", "new_devices"):
            await w.write(store, plan.batch(kind, w.events))
            await check_same_as_a_build(store, url, w.events)
    caplog.clear()
    async with process(url, tmp_path) as store:
        kept = await load_fleet(store, q.start.toordinal() - W, q.end.toordinal() + W)
        assert kept.updates == 0
        await check_same_as_a_build(store, url, w.events)
    assert not any("refused" in m for m in messages(caplog))


async def refused(url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                  events: list[Ev], why: str = "") -> None:  # fmt: skip
    caplog.clear()
    async with process(url, tmp_path) as store:
        await check_same_as_a_build(store, url, events)
    refusals = [m for m in messages(caplog) if "refused" in m]
    assert len(refusals) == 1 and why in refusals[0], messages(caplog)


def last_data_byte(path: Path, member: str) -> int:
    """Where the last byte of a member's data is in the file (not zip metadata such as its
    time stamp, which no reader checks or needs)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    head = path.read_bytes()[info.header_offset : info.header_offset + 30]
    name: int  # struct.unpack's values are untyped: two unsigned shorts
    extra: int
    name, extra = struct.unpack("<HH", head[26:30])
    return info.header_offset + 30 + name + extra + info.compress_size - 1


async def test_corrupt_truncated_and_older_files_are_refused(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    w, _ = await first_process(url, tmp_path, 5)
    path = path_of(url, tmp_path)
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[last_data_byte(path, "use_bits.npy")] ^= 0x08  # one bit of the day bits
    for bad in (bytes(flipped), good[: len(good) // 2], b"", b"not a zip at all"):
        path.write_bytes(bad)
        await refused(url, tmp_path, caplog, w.events)
    path.write_bytes(good)  # the same content under an older format number
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    members["header"] = np.frombuffer(
        members["header"].tobytes().replace(b'"format": 1', b'"format": 0'), np.uint8
    )
    with path.open("wb") as f:
        np.savez(f, **members)
    await refused(url, tmp_path, caplog, w.events, "format 0")


async def test_the_file_of_another_store_is_refused(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another fleet's file at this store's path (same backend and schema, the same device
    names, other events)."""
    caplog.set_level(logging.INFO, LOG)
    other = tmp_path / "other"
    other.mkdir()
    if url.startswith("sqlite:"):
        await _another(url, f"sqlite:///{other}/c.db", tmp_path, other, caplog)
    else:
        async with PgDatabase() as db:  # a second database on the same cluster
            await _another(url, db.dsn, tmp_path, other, caplog)


async def _another(url: str, other_url: str, tmp_path: Path, other: Path,
                   caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    await first_process(other_url, other, 6)
    w, _ = await first_process(url, tmp_path, 7)
    shutil.copy(path_of(other_url, other), path_of(url, tmp_path))
    await refused(url, tmp_path, caplog, w.events)


async def test_a_store_restored_to_an_older_copy_is_not_answered_from_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite: the store put back to a copy from before the file's writes (the file has seen
    more than the store), then as many writes again (the counters moved another way)."""
    caplog.set_level(logging.INFO, LOG)
    url = f"sqlite:///{tmp_path}/c.db"
    w, plan = await first_process(url, tmp_path, 9)
    backup = list(w.events)
    shutil.copy(tmp_path / "c.db", tmp_path / "backup.db")
    async with process(url, tmp_path) as store:
        for kind in WRITES:
            await w.write(store, plan.batch(kind, w.events))
        await release_rows(store, SETTINGS, query())  # the file now holds these writes
    kept = path_of(url, tmp_path).read_bytes()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"c.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", tmp_path / "c.db")
    await refused(url, tmp_path, caplog, backup, "seen")
    path_of(url, tmp_path).write_bytes(kept)  # the refused start wrote its own: put it back
    again = Writer()
    again.seq, again.events = dict(w.seq), list(backup)
    _, saved = release_file.read(path_of(url, tmp_path))
    used = {d: [e for e in backup if e["kind"] == "feature_use" and e["device"] == d]
            for d in ("dev00", "dev01", "dev02", "dev03")}  # fmt: skip
    async with process(url, tmp_path, keep=False) as store:  # the store's count passes the file's
        for mine in used.values():  # in few writes: few run versions
            await again.write(store, [{**e, "id": f"{e['id']}-a{k}"} for k, e in
                                      enumerate(mine * 30)][:200])  # fmt: skip
        assert await store.events_seen() >= saved.seen  # so the counters must tell
    await refused(url, tmp_path, caplog, again.events, "run cursor")
    path_of(url, tmp_path).write_bytes(kept)
    async with process(url, tmp_path, keep=False) as store:
        for k in range(12):  # new days, each a write that rewrites runs: versions past the file's
            last = used[f"dev0{k % 4}"][-1]
            day = D + timedelta(days=DAYS + k)
            await again.write(store, [ev(last["device"], day, last["fw"], 70_000 + k,
                                         typ=last["type"])])  # fmt: skip
    await refused(url, tmp_path, caplog, again.events, "has seen")


async def test_a_file_whose_use_counts_are_not_the_stores_is_refused(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole file of this store, but one device's use counts changed (as an older copy of
    the store with the same counters would differ): the sampled devices catch it."""
    caplog.set_level(logging.INFO, LOG)
    w, _ = await first_process(url, tmp_path, 4)
    path = path_of(url, tmp_path)
    with np.load(path) as npz:
        members = {k: npz[k] for k in npz.files}
    uses = members["uses"].copy()
    row = int(np.flatnonzero(uses.any(axis=1))[0])
    uses[row, int(np.flatnonzero(uses[row])[0])] += 1
    members["uses"] = uses
    with path.open("wb") as f:
        np.savez(f, **members)
    await refused(url, tmp_path, caplog, w.events, "use counts differ")


async def test_a_write_after_answers_from_the_file_is_in_the_next_answer(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file's measurements answer only while nothing was written since: after a write in
    the same process the Fleet is read and updated."""
    caplog.set_level(logging.INFO, LOG)
    w, plan = await first_process(url, tmp_path, 12)
    async with process(url, tmp_path) as store:
        await release_rows(store, SETTINGS, query())
        assert any("release measurements read from" in m for m in messages(caplog))
        await w.write(store, plan.batch("late", w.events))
        await check_same_as_a_build(store, url, w.events)
        assert any("release Fleet read from" in m for m in messages(caplog))


async def test_requests_during_the_warm_up_answer_as_a_build(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve`'s warm-up reads the file's Fleet while requests arrive: those the file measured
    are answered from its measurements meanwhile, the others wait for the Fleet."""
    caplog.set_level(logging.INFO, LOG)
    w, _ = await first_process(url, tmp_path, 14)
    other = make_release_query(SETTINGS, start=START, end=END, window=W + 2, as_of=AS_OF,
                               today=TODAY)  # fmt: skip
    async with process(url, tmp_path) as store:
        _, got, got_other = await asyncio.gather(
            warm_up(store, SETTINGS, today=TODAY),
            release_rows(store, SETTINGS, query()),
            release_rows(store, SETTINGS, other),
        )
        assert any("release Fleet read from" in m for m in messages(caplog)), messages(caplog)
        assert any("release measurements read from" in m for m in messages(caplog))
    async with open_store(url) as fresh:
        assert got == await release_rows(fresh, SETTINGS, query())
        assert got_other == await release_rows(fresh, SETTINGS, other)
    assert not any("refused" in m for m in messages(caplog))
    assert_matches_oracle(got, reference_rows(w.events, START, END, AS_OF, W,
                                              SETTINGS.core_features))  # fmt: skip
