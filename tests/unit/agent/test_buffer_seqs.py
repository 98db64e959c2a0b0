"""Seqs of appended rows: the buffer inserts many rows per statement and takes the seqs from
SQLite's AUTOINCREMENT, so what append_rows() reports must be what was stored."""

from pathlib import Path

from agent.buffer import Buffer


def test_reported_seqs_are_the_stored_ones_for_every_statement_size(tmp_path: Path) -> None:
    seen: list[int] = []
    with Buffer(tmp_path / "b.db", max_bytes=64 << 20) as buf:
        for n in (1, 2, 7, 8, 9, 31, 32, 33, 128, 171, 300):  # every chunk and remainder size
            rows = [(f"id-{n}-{k}", f'{{"n":{n},"k":{k}}}') for k in range(n)]
            res = buf.append_rows(rows)
            assert res.stored == n
            stored = buf.read_after(res.first_seq - 1, n, 1 << 30)
            assert [s for s, _ in stored] == list(range(res.first_seq, res.first_seq + n))
            assert [body for _, body in stored] == [body for _, body in rows]
            seen += [s for s, _ in stored]
            if n == 33:  # acked to the end: AUTOINCREMENT still never reuses a seq
                buf.ack(1, seen[-1])
        assert seen == list(range(1, len(seen) + 1))
        assert buf.last_seq() == len(seen)
    with Buffer(tmp_path / "b.db") as buf:  # and after reopening
        assert buf.append_rows([("x", "{}")]).first_seq == len(seen) + 1
        assert buf.append_rows([]).first_seq == 0


def test_rows_bytes_is_the_sum_of_row_bytes() -> None:
    from agent.budget import row_bytes, rows_bytes

    rows = [("a" * 36, '{"x":"ü€𝄞"}'), ("b", "c" * 300), ("", ""), ("ä", '{"k":1}')]
    assert rows_bytes(rows) == sum(row_bytes(i, b) for i, b in rows)
    assert rows_bytes([]) == 0
