from pathlib import Path

from agent.buffer import Buffer
from bench.agent_drain import _buffered


def test_the_drain_bench_sees_whether_the_buffer_still_holds_events(tmp_path: Path) -> None:
    with Buffer(tmp_path / "b.db") as buf:
        buf.append_rows([("a", '{"id":"a"}'), ("b", '{"id":"b"}')])
        assert _buffered(buf.path) is True
        buf.ack(1, 2)
        assert _buffered(buf.path) is False
