import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.buffer import SEQ_OVERHEAD_BYTES, Buffer
from agent.errors import AgentError, BufferCorrupt


def ev(i: int, pad: int = 0) -> dict[str, Any]:
    return {"id": f"00000000-0000-7000-8000-{i:012d}", "kind": "x", "ts": 1000 + i, "p": "x" * pad}


def test_append_read_delete_depth(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        assert (buf.depth(), buf.oldest(), buf.last_seq()) == (0, None, 0)
        assert buf.append_many([ev(i) for i in range(10)]) == list(range(1, 11))
        assert buf.append_many([]) == []
        assert buf.depth() == 10
        first = buf.oldest()
        assert first is not None and first[:2] == (1, 1000)
        rows = buf.read_after(0, 3, 10**6)
        assert [s for s, _ in rows] == [1, 2, 3]
        assert json.loads(rows[0][1]) == ev(0)  # stored without seq, as given
        assert [s for s, _ in buf.read_after(8, 100, 10**6)] == [9, 10]
        assert [s for s, _ in buf.read_after(2, 100, 10**6, upto=5)] == [3, 4, 5]
        assert buf.delete_range(1, 4) == 4
        assert buf.delete_range(1, 4) == 0  # acked twice: harmless
        oldest = buf.oldest()
        assert buf.depth() == 6 and oldest is not None and oldest[:2] == (5, 1004)
        assert [s for s, _ in buf.read_after(0, 2, 10**6)] == [5, 6]


def test_read_after_respects_the_byte_budget_but_returns_at_least_one(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_many([ev(i, pad=1000) for i in range(10)])
        size = len(buf.read_after(0, 1, 10**6)[0][1]) + SEQ_OVERHEAD_BYTES
        assert len(buf.read_after(0, 100, size * 3)) == 3
        assert len(buf.read_after(0, 100, size * 3 - 1)) == 2
        assert len(buf.read_after(0, 100, 10)) == 1  # never stuck behind a big event


def test_seqs_are_never_reused_and_the_stream_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with Buffer(path) as buf:
        stream = buf.stream_id
        buf.append_many([ev(1), ev(2)])
        buf.delete_range(1, 2)
    with Buffer(path) as buf:
        assert buf.stream_id == stream
        assert buf.append_many([ev(3)]) == [3]  # not 1, although the table was empty
        assert buf.last_seq() == 3
    with Buffer(tmp_path / "other.db") as fresh:
        assert fresh.stream_id != stream


def test_new_file_after_deletion_is_a_new_stream(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with Buffer(path) as buf:
        stream = buf.stream_id
    for p in tmp_path.glob("b.db*"):
        p.unlink()
    with Buffer(path) as buf:
        assert buf.stream_id != stream


def test_durability_settings(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        conn = buf._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_two_connections_share_the_file(tmp_path: Path) -> None:
    # What `pes-agent emit` and `pes-agent run` do from two processes.
    path = tmp_path / "b.db"
    with Buffer(path) as a, Buffer(path) as b:
        assert a.stream_id == b.stream_id
        assert a.append_many([ev(1)]) == [1]
        assert b.append_many([ev(2)]) == [2]
        assert [s for s, _ in a.read_after(0, 10, 10**6)] == [1, 2]


def test_anchors(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with Buffer(path) as buf:
        buf.save_anchor("boot-a", 100, 1_700_000_000_000)
        buf.append_many([ev(1)])
        assert buf.delete_range(1, 1, anchor=("boot-a", 200, 1_700_000_000_100)) == 1
        buf.save_anchor("boot-b", 5, 6)
    with Buffer(path) as buf:
        assert buf.anchors() == {"boot-a": (200, 1_700_000_000_100), "boot-b": (5, 6)}


def test_foreign_or_broken_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BufferCorrupt), Buffer(junk):
        pass
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES('schema', '99')")
    conn.close()
    with pytest.raises(BufferCorrupt, match="schema"), Buffer(foreign):
        pass


def test_nothing_happens_before_open_and_after_close(tmp_path: Path) -> None:
    buf = Buffer(tmp_path / "sub" / "b.db")
    assert not (tmp_path / "sub").exists()  # no I/O in __init__
    with pytest.raises(AgentError):
        buf.depth()
    with buf:
        pass
    with pytest.raises(AgentError):
        buf.append_many([ev(1)])


def test_the_byte_budget_counts_utf8_bytes_across_read_chunks(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_many([ev(i, pad=0) | {"p": "é" * (i % 5)} for i in range(600)])
        rows = buf.read_after(0, 600, 10**9)
        sizes = [len(b.encode()) + SEQ_OVERHEAD_BYTES for _, b in rows]
        for cut in (1, 255, 256, 257, 300, 599):  # within and at the edges of the chunks
            assert len(buf.read_after(0, 600, sum(sizes[:cut]))) == cut
            assert len(buf.read_after(0, 600, sum(sizes[:cut]) - 1)) == max(1, cut - 1)
