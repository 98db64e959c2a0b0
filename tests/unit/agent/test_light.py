"""The agent stays light: no web framework, no database driver, no prometheus-client."""

import subprocess
import sys

from agent.metrics import render

HEAVY = ["fastapi", "uvicorn", "asyncpg", "aiosqlite", "prometheus_client", "starlette"]


def test_agent_modules_do_not_import_collector_dependencies() -> None:
    code = (
        "import sys, agent.cli, agent.agent, agent.sock, agent.telemetry\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_prometheus_text_format() -> None:
    text = render(
        [("a_total", "counter", "Things", 3), ("b", "gauge", "Unknown now", None),
         ("c_seconds", "gauge", "Age", 1.5), ("d", "gauge", "Flag", True)],
        {"device_id": 'gw"1'},
    )  # fmt: skip
    assert text.splitlines() == [
        "# HELP a_total Things", "# TYPE a_total counter", 'a_total{device_id="gw\\"1"} 3',
        "# HELP b Unknown now", "# TYPE b gauge",
        "# HELP c_seconds Age", "# TYPE c_seconds gauge", 'c_seconds{device_id="gw\\"1"} 1.5',
        "# HELP d Flag", "# TYPE d gauge", 'd{device_id="gw\\"1"} 1',
    ]  # fmt: skip


def test_socket_chunks_split_at_line_boundaries() -> None:
    from agent.sock import _Chunk, _split

    chunk = _Chunk()
    for k in range(10):
        if k % 3 == 0:
            chunk.entries.append((-1, b"error"))
        if k % 4 == 0:
            chunk.rows.append((f"s{k}", "x" * 50))  # a session row written before the line's
        chunk.rows.append((f"e{k}", "y" * 50))
        chunk.entries.append((len(chunk.rows) - 1, f"e{k}".encode()))
    for max_rows, max_bytes in ((3, 10**6), (100, 160), (1, 1), (100, 10**6)):
        parts = _split(chunk, max_rows, max_bytes)
        assert [r for p in parts for r in p.rows] == chunk.rows
        got = [(e if i < 0 else p.rows[i][0].encode()) for p in parts for i, e in p.entries]
        assert got == [e for _, e in chunk.entries]
        for p in parts:
            assert len(p.rows) <= max(max_rows, 2) or len(parts) == 1
