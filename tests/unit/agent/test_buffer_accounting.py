"""The buffer's bookkeeping through its public methods: the oldest event's fields, meta
entries, acks over several ranges, appends that carry meta, opening paths, and the disk
headroom (min_free_bytes) episode: when it starts and ends, what it logs, and that the buffer
stops growing meanwhile. Free space is simulated through os.statvfs."""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.budget import Budget, row_bytes
from agent.buffer import Appended, Buffer
from agent.drops import Drop, subtract
from agent.errors import AgentStopped, BufferCorrupt, BufferFull
from agent.stored import Oldest

MIB = 1 << 20
ID = "00000000-0000-7000-8000-{:012d}"


def ev(i: int, **kw: Any) -> dict[str, Any]:
    return {"id": ID.format(i), "kind": "x", "ts": 1000 + i, **kw}


def rows(n: int, start: int = 0, pad: int = 200) -> list[tuple[str, str]]:
    return [(ID.format(i), json.dumps(ev(i, p="x" * pad))) for i in range(start, start + n)]


# -- the oldest event -------------------------------------------------------------------------
def test_oldest_reports_the_first_unacked_event_s_clocks(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        assert buf.oldest() is None
        buf.append_many([ev(1, mono=5_000, boot="boot-a"), ev(2)])
        assert buf.oldest() == Oldest(1, 1001, ID.format(1), 5_000, "boot-a")
        buf.ack(1, 1)
        assert buf.oldest() == Oldest(2, 1002, ID.format(2), None, None)
        buf.ack(2, 2)
        assert buf.oldest() is None


def test_oldest_ignores_clock_fields_of_the_wrong_type(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_rows([("id-1", json.dumps({"mono": "5", "boot": 7}))])
        assert buf.oldest() == Oldest(1, 0, "id-1", None, None)  # no ts: 0


def test_oldest_of_an_unreadable_body_still_has_its_seq_and_id(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_rows([("id-1", "not json")])
        assert buf.oldest() == Oldest(1, 0, "id-1", None, None)


# -- meta, acks, appends -----------------------------------------------------------------------
def test_meta_entries_are_set_replaced_and_deleted(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        base = buf.meta()
        assert set(base) == {"schema", "stream_id"}
        buf.set_meta("config_version", "fleet=3")
        buf.set_meta("config_version", "fleet=4")
        buf.set_meta("other", "x")
        assert buf.meta() == {**base, "config_version": "fleet=4", "other": "x"}
        buf.set_meta("config_version", None)
        buf.set_meta("never_set", None)  # harmless
        assert buf.meta() == {**base, "other": "x"}
    with Buffer(tmp_path / "b.db") as again:
        assert again.meta() == {**base, "other": "x"}  # durable


def test_ack_over_several_ranges_keeps_the_anchor_and_ack_time(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_many([ev(i) for i in range(1, 11)])
        n = buf.ack(1, 2, more=[(5, 6), (9, 20)], anchor=("boot-a", 700, 9_000), last_ack_ms=42)
        assert n == 6
        assert [s for s, _ in buf.read_after(0, 100, MIB)] == [3, 4, 7, 8]
        assert buf.anchors() == {"boot-a": (700, 9_000)}
        assert buf.meta()["last_ack_ms"] == "42"
        assert buf.ack(3, 3) == 1
        assert buf.meta()["last_ack_ms"] == "42"  # only an ack that says so changes it
        assert buf.last_seq() == 10  # acked seqs stay spent


def test_append_rows_stores_meta_in_the_same_transaction(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        assert buf.append_rows([]) == Appended(0, 0, 0)
        assert buf.append_rows([], meta={"k": "1"}) == Appended(0, 0, 0)
        assert buf.meta()["k"] == "1"
        assert buf.append_rows(rows(3), meta={"k": "2"}) == Appended(1, 3, 0)
        assert buf.append_rows(rows(2, 3)) == Appended(4, 2, 0)
        assert buf.meta()["k"] == "2" and buf.depth() == 5


def test_open_creates_the_directory_and_refuses_an_unusable_one(tmp_path: Path) -> None:
    with Buffer(tmp_path / "a" / "b" / "buf.db") as buf:
        buf.append_many([ev(1)])
    assert (tmp_path / "a" / "b" / "buf.db").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BufferCorrupt, match="cannot create"):
        Buffer(tmp_path / "file" / "buf.db").open()


def test_a_path_that_is_a_directory_is_refused_as_corrupt(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(BufferCorrupt) as exc:
        Buffer(tmp_path / "dir.db").open()
    assert (
        str(exc.value) == f"cannot open buffer {tmp_path / 'dir.db'}: unable to open database file"
    )


def test_the_buffer_is_used_from_worker_threads(tmp_path: Path) -> None:
    # The agent calls it through asyncio.to_thread: a connection made on one thread serves all.
    with Buffer(tmp_path / "b.db") as buf, ThreadPoolExecutor(2) as pool:
        assert pool.submit(buf.append_many, [ev(1), ev(2)]).result() == [1, 2]
        assert pool.submit(buf.depth).result() == 2
        assert pool.submit(buf.ack, 1, 2).result() == 2


# -- disk headroom ----------------------------------------------------------------------------
class Disk:
    """os.statvfs for the buffer's directory, with a settable amount of free space."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, free: int) -> None:
        self.free = free
        self.broken = False
        real = os.statvfs

        def statvfs(path: Any) -> Any:
            if self.broken:
                raise OSError("no such file system")
            st = real(path)
            return SimpleNamespace(f_bavail=self.free // 4096, f_frsize=4096, f_bsize=st.f_bsize)

        monkeypatch.setattr(os, "statvfs", statvfs)


MIN_FREE = 10 * MIB
WAL_SHARE = 128 * 1024  # Budget(1 MiB).wal_bytes: the hysteresis margin


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_low_disk_episode_stops_growth_and_is_logged_once_each_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    disk = Disk(monkeypatch, free=1 << 40)
    caplog.set_level(logging.WARNING)
    path = tmp_path / "b.db"
    with Buffer(path, max_bytes=MIB, min_free_bytes=MIN_FREE) as buf:
        buf.append_rows(rows(100))
        assert not buf.low_disk and warnings(caplog) == []
        disk.free = MIN_FREE  # any growth would leave less than min_free_bytes
        dropped = buf.append_rows(rows(50, 100)).dropped
        size = path.stat().st_size  # the WAL is emptied into the database after each commit
        for k in range(1, 20):
            res = buf.append_rows(rows(50, 100 + 50 * k))
            assert res.stored == 50
            dropped += res.dropped
        assert buf.low_disk
        assert path.stat().st_size <= size  # the database did not grow: old events made room
        assert dropped > 0 and buf.depth() == 1100 - dropped
        assert sum(d.size for d in buf.pending_drops()) == dropped
        assert warnings(caplog) == [
            "buffer file system below min_free_mb (10 MiB free of 10 wanted): "
            "the buffer stops growing, overflow=drop_oldest applies"
        ]
        # While low, each commit hands the WAL's space back to the file system.
        assert Path(f"{path}-wal").stat().st_size == 0
        disk.free = 64 * MIB
        buf.append_rows(rows(1, 5000))
        assert not buf.low_disk
        assert warnings(caplog)[1:] == [
            "buffer file system has 64 MiB free again: the buffer may grow"
        ]


def test_an_episode_ends_only_with_room_for_the_wal_as_well(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Enough for two small appends above min_free, but not for the WAL's share on top.
    between = MIN_FREE + WAL_SHARE // 2
    disk = Disk(monkeypatch, free=1 << 40)
    with Buffer(tmp_path / "b.db", max_bytes=MIB, min_free_bytes=MIN_FREE) as buf:
        buf.append_rows(rows(100))  # room to drop from while low
        disk.free = between
        buf.append_rows(rows(1, 100))
        assert not buf.low_disk  # not in an episode: no margin needed
        disk.free = MIN_FREE
        buf.append_rows(rows(1, 101))
        assert buf.low_disk
        disk.free = between
        buf.append_rows(rows(1, 102))
        assert buf.low_disk  # in an episode: it needs the WAL's share too
        disk.free = MIN_FREE + 2 * WAL_SHARE
        buf.append_rows(rows(1, 103))
        assert not buf.low_disk


def test_reject_new_on_a_low_disk_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Disk(monkeypatch, free=MIN_FREE)
    with Buffer(
        tmp_path / "b.db", max_bytes=MIB, min_free_bytes=MIN_FREE, overflow="reject_new"
    ) as buf:
        with pytest.raises(BufferFull) as exc:
            for k in range(100):
                buf.append_many([ev(50 * k + i, p="x" * 300) for i in range(50)])
        assert buf.low_disk
        assert str(exc.value) == "buffer full (file system below min_free_mb = 10 MiB, reject_new)"
        assert int(buf.meta()["rejected_total"]) >= 50


def test_headroom_is_off_at_zero_and_when_the_file_system_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = Disk(monkeypatch, free=0)
    with Buffer(tmp_path / "a.db", max_bytes=MIB) as buf:  # min_free_bytes=0: off
        buf.append_rows(rows(10))
        assert not buf.low_disk and buf.depth() == 10
    disk.broken = True
    with Buffer(tmp_path / "b.db", max_bytes=MIB, min_free_bytes=MIN_FREE) as buf:
        buf.append_rows(rows(10))
        assert not buf.low_disk and buf.depth() == 10


def test_the_full_message_names_the_limit_and_policy(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db", max_bytes=MIB, overflow="reject_new") as buf:
        with pytest.raises(BufferFull) as exc:
            for k in range(100):
                buf.append_many([ev(50 * k + i, p="x" * 300) for i in range(50)])
        assert str(exc.value) == "buffer full (1 MiB limit, overflow=reject_new)"


def test_an_append_needs_its_pages_twice_above_min_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Twice: the WAL takes the new pages first, then the database. One small row's pages:
    (row,) = rows(1, 100)
    need = Budget(MIB).pages_for(row_bytes(*row), 1) * Budget(MIB).page_size
    disk = Disk(monkeypatch, free=1 << 40)
    with Buffer(tmp_path / "b.db", max_bytes=MIB, min_free_bytes=MIN_FREE) as buf:
        buf.append_rows(rows(100))
        disk.free = MIN_FREE + 2 * need  # exactly enough
        buf.append_rows([row])
        assert not buf.low_disk
        disk.free = MIN_FREE + 2 * need - 4096  # a page short
        buf.append_rows(rows(1, 101))
        assert buf.low_disk


def test_reject_new_stores_the_first_rows_that_fit(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db", max_bytes=MIB, overflow="reject_new") as buf:
        k = 0
        while (res := buf.append_rows(rows(100, 100 * k))).stored == 100:
            k += 1
        assert 0 < res.stored < 100  # the batch that reaches the limit is stored in part
        assert res.first_seq == 100 * k + 1
        assert buf.depth() == 100 * k + res.stored
        assert int(buf.meta()["rejected_total"]) == 100 - res.stored


# -- stored bodies, ranges, page estimates -----------------------------------------------------
def test_bodies_are_compact_utf8_json_under_their_own_id(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_many([{"id": "e-1", "kind": "x", "labels": {"site": "Zürich"}}])
        assert buf.read_after(0, 10, MIB) == [
            (1, '{"id":"e-1","kind":"x","labels":{"site":"Zürich"}}')
        ]
        oldest = buf.oldest()
        assert oldest is not None and oldest.id == "e-1"


def test_read_after_without_an_upper_bound_reads_to_the_last_seq(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_rows(rows(300, pad=0))
        assert [s for s, _ in buf.read_after(250, 1000, MIB)] == list(range(251, 301))


def test_pages_for_counts_row_overhead_and_a_fill_margin() -> None:
    # int((bytes + 16 per row) / (4096 * 0.85 = 3481.6)) + 2 pages.
    b = Budget(MIB)
    assert b.pages_for(0, 0) == 2
    assert (b.pages_for(3465, 1), b.pages_for(3466, 1)) == (2, 3)
    assert (b.pages_for(3001, 30), b.pages_for(3002, 30)) == (2, 3)  # 3481 | 3482 bytes
    assert b.pages_for(35_000, 10) == 12  # 35,160 / 3481.6 = 10.1


@pytest.mark.parametrize(
    ("first", "last", "left"),
    [
        (1, 4, [(5, 10)]),  # before: untouched
        (11, 20, [(5, 10)]),  # after: untouched
        (1, 5, [(6, 10)]),  # ends on its first seq
        (10, 12, [(5, 9)]),  # starts on its last seq
        (7, 8, [(5, 6), (9, 10)]),
        (7, 10, [(5, 6)]),
        (5, 7, [(8, 10)]),
        (5, 10, []),
        (1, 20, []),
    ],
)
def test_subtracting_an_acked_range_from_a_drop(
    first: int, last: int, left: list[tuple[int, int]]
) -> None:
    out = subtract(Drop(5, 10, "buffer_full"), first, last)
    assert out == [Drop(a, b, "buffer_full") for a, b in left]


def test_the_smallest_limit_leaves_16_data_pages() -> None:
    # 256 KiB: 128 KiB for the WAL, 64 KiB for its index, 16 pages of 4 KiB for events.
    assert Budget(256 * 1024).data_pages == 16
    with pytest.raises(ValueError) as exc:
        Budget(256 * 1024 - 1)
    assert str(exc.value) == "buffer limit 262143 bytes is too small"


def test_reject_new_takes_a_batch_that_fits_whole(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db", max_bytes=MIB, overflow="reject_new") as buf:
        assert buf.append_many([ev(1), ev(2)]) == [1, 2]
        assert buf.meta().get("rejected_total", "0") == "0"


def test_closed_cleanly_and_stopped_after(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    buf = Buffer(path)
    with pytest.raises(AgentStopped) as exc:
        _ = buf.stream_id
    assert str(exc.value) == "buffer is not open"
    with buf:
        buf.append_many([ev(1)])
        on_disk = [p.stat().st_size for p in buf.files() if p.exists()]
        assert buf.disk_bytes() == sum(on_disk) > 0
    # The last connection closed: SQLite merged the WAL into the database and removed it.
    assert not Path(f"{path}-wal").exists()
    with pytest.raises(AgentStopped) as exc:
        buf.depth()
    assert str(exc.value) == "buffer is not open"


def test_a_buffer_of_an_unknown_schema_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with Buffer(path) as buf:
        buf.set_meta("schema", "7")
    with pytest.raises(BufferCorrupt) as exc:
        Buffer(path).open()
    assert str(exc.value) == f"{path}: buffer schema '7' unknown"
