"""The size limit really holds for the database + WAL + WAL index, and every overflow drop is
counted and kept as an exact sequence range until a collector has acked a batch reporting it."""

import json
import random
from pathlib import Path

import pytest

from agent import drops as D
from agent.budget import Budget
from agent.buffer import Buffer
from agent.errors import BufferFull

MIB = 1024 * 1024


def rows(n: int, rng: random.Random, pad: tuple[int, int] = (50, 600)) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        i = f"{rng.getrandbits(128):032x}"
        body = json.dumps({"id": i, "kind": "x", "ts": 1, "p": "y" * rng.randint(*pad)})
        out.append((i, body))
    return out


def test_budget_splits_the_limit() -> None:
    b = Budget(MIB)
    assert b.wal_bytes == 128 * 1024 and 200 <= b.data_pages <= 210
    assert b.commit_bytes < b.wal_bytes // 2
    big = Budget(64 * MIB)
    assert big.wal_bytes == 8 * MIB and big.data_pages * 4096 > 55 * MIB
    with pytest.raises(ValueError):
        Budget(100_000)


def test_range_helpers() -> None:
    assert D.runs([1, 2, 3, 7, 8, 10]) == [(1, 3), (7, 8), (10, 10)]
    d = D.Drop(10, 20, "overflow")
    assert D.subtract(d, 1, 5) == [d]
    assert D.subtract(d, 12, 15) == [D.Drop(10, 11, "overflow"), D.Drop(16, 20, "overflow")]
    assert D.subtract(d, 5, 25) == []
    assert d.size == 11


@pytest.mark.parametrize("mb", [1, 3])
def test_limit_holds_on_disk_and_drops_are_exact(tmp_path: Path, mb: int) -> None:
    rng = random.Random(mb)
    limit = mb * MIB
    total = 0
    with Buffer(tmp_path / "b.db", max_bytes=limit) as buf:
        for _ in range(40):
            batch = rows(rng.randint(1, 400), rng)
            res = buf.append_rows(batch)
            assert res.stored == len(batch)
            total += len(batch)
            assert buf.disk_bytes() <= limit
        depth, last = buf.depth(), buf.last_seq()
        dropped = int(buf.meta()["dropped_total"])
        pending = buf.pending_drops()
        assert last == total and depth + dropped == total and dropped > 0
        # One range, from 1: the oldest go first, and adjacent drops extend it.
        assert pending == [D.Drop(1, dropped, "overflow")]
        oldest = buf.oldest()
        assert oldest is not None and oldest[0] == dropped + 1
    assert sum(p.stat().st_size for p in tmp_path.glob("b.db*")) <= limit


def test_drops_with_acked_holes_are_exact_runs(tmp_path: Path) -> None:
    rng = random.Random(7)
    with Buffer(tmp_path / "b.db", max_bytes=MIB) as buf:
        buf.append_rows(rows(100, rng, (200, 200)))
        buf.ack(10, 19)  # acked out of order: 10..19 were received, not dropped
        while not buf.pending_drops() or buf.pending_drops()[-1].last < 30:
            buf.append_rows(rows(50, rng, (200, 200)))
        first = buf.pending_drops()[:2]
        assert first[0] == D.Drop(1, 9, "overflow") and first[1].first == 20


def test_reject_new_stores_what_fits_and_counts_the_rest(tmp_path: Path) -> None:
    rng = random.Random(3)
    with Buffer(tmp_path / "b.db", max_bytes=MIB, overflow="reject_new") as buf:
        stored = 0
        for _ in range(30):
            stored += buf.append_rows(rows(100, rng)).stored
        assert 0 < stored < 3000
        assert buf.depth() == stored == buf.last_seq()  # no seq was spent on a refused event
        assert int(buf.meta()["rejected_total"]) == 3000 - stored
        assert buf.pending_drops() == [] and "dropped_total" not in buf.meta()
        with pytest.raises(BufferFull, match="reject_new"):
            buf.append_many([{"id": "x", "kind": "x", "p": "y" * 500}] * 50)
        assert buf.disk_bytes() <= MIB
        buf.ack(1, stored)  # acked: room again
        assert buf.append_rows(rows(10, rng)).stored == 10


def test_pending_drops_and_counters_survive_a_restart_and_clear_on_ack(tmp_path: Path) -> None:
    rng = random.Random(5)
    path = tmp_path / "b.db"
    with Buffer(path, max_bytes=MIB) as buf:
        while not buf.pending_drops():
            buf.append_rows(rows(200, rng))
        reported = buf.pending_drops()
    with Buffer(path, max_bytes=MIB) as buf:
        assert buf.pending_drops() == reported
        n = int(buf.meta()["dropped_total"])
        while buf.pending_drops()[0].last == reported[0].last:
            buf.append_rows(rows(200, rng))  # the range grows after it was reported
        grown = buf.pending_drops()[0]
        buf.ack(0, 0, reported=reported, last_ack_ms=1_800_000_000_000)
        assert buf.pending_drops() == [D.Drop(reported[0].last + 1, grown.last, "overflow")]
        assert int(buf.meta()["dropped_total"]) > n
        assert buf.meta()["last_ack_ms"] == "1800000000000"


def test_a_lower_limit_shrinks_an_existing_file(tmp_path: Path) -> None:
    rng = random.Random(9)
    path = tmp_path / "b.db"
    with Buffer(path) as buf:  # no limit
        buf.append_rows(rows(8000, rng))
        assert buf.disk_bytes() > 2 * MIB
    with Buffer(path, max_bytes=MIB) as buf:
        assert buf.disk_bytes() <= MIB
        assert buf.depth() + int(buf.meta()["dropped_total"]) == 8000
        assert buf.pending_drops()[0].first == 1


def test_space_is_returned_once_drained(tmp_path: Path) -> None:
    rng = random.Random(11)
    with Buffer(tmp_path / "b.db", max_bytes=4 * MIB) as buf:
        for _ in range(10):
            buf.append_rows(rows(300, rng))
        full = buf.disk_bytes()
        last = buf.last_seq()
        for first in range(1, last + 1, 500):  # acked batch by batch, as a drain does
            buf.ack(first, first + 499)
        assert buf.depth() == 0
        assert buf.disk_bytes() < full / 2


def test_a_draining_backlog_keeps_its_pages_unless_the_disk_is_low(tmp_path: Path) -> None:
    rng = random.Random(12)
    with Buffer(tmp_path / "b.db", max_bytes=4 * MIB) as buf:
        for _ in range(10):
            buf.append_rows(rows(300, rng))
        full = buf.path.stat().st_size
        for first in range(1, 2501, 500):  # 500 events still stored beyond seq 2600
            buf.ack(first, first + 499, backlog_after=2600)
        assert buf.path.stat().st_size == full
        buf.low_disk = True  # a low disk wants its space back now (a step at a time)
        buf.ack(2501, 2600, backlog_after=2600)
        assert buf.path.stat().st_size < full
