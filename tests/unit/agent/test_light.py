"""The agent stays light: no web framework, no database driver, no prometheus-client, no
pydantic; `import agent.cli` (what `pes-agent emit | status` load) not even asyncio or ssl; a
running `pes-agent run` no pydantic either, and without TLS no OpenSSL (agent/lean.py)."""

import socket
import subprocess
import sys
import time
from pathlib import Path

from agent.metrics import render

HEAVY = ["fastapi", "uvicorn", "asyncpg", "aiosqlite", "prometheus_client", "starlette"]
NOT_IN_CLI = [*HEAVY, "pydantic", "pydantic_core", "pydantic_settings", "ssl", "asyncio", "paho"]


def _loaded(code: str, names: list[str]) -> str:
    code += f"\nprint(sorted(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_agent_cli_loads_no_pydantic_no_framework_no_ssl() -> None:
    assert _loaded("import sys, agent.cli", NOT_IN_CLI) == "[]"


def test_the_running_agent_modules_load_no_pydantic() -> None:
    code = "import sys, agent.cli, agent.agent, agent.sock, agent.telemetry, agent.publisher"
    assert _loaded(code, [*HEAVY, "pydantic", "pydantic_core", "pydantic_settings"]) == "[]"


OPENSSL = ["ssl", "_ssl", "_hashlib", "urllib.request", "http.client"]


def test_the_run_path_without_tls_loads_no_openssl() -> None:
    """What `pes-agent run` imports without TLS (agent/cli.py `_run`), in a fresh interpreter:
    asyncio, paho and the agent's modules, and no ssl, _hashlib or urllib.request."""
    code = (
        "import sys, agent.cli\nfrom agent.lean import import_without_tls\n"
        "import_without_tls()\nimport asyncio, paho.mqtt.client, agent.agent, agent.sock\n"
        "assert 'asyncio' in sys.modules and 'paho.mqtt.client' in sys.modules"
    )
    assert _loaded(code, OPENSSL) == "[]"


def test_held_back_modules_still_import_afterwards() -> None:
    """Nothing is left blocked: code that really needs ssl (a library user's TLS) gets it."""
    code = (
        "import sys\nfrom agent.lean import import_without_tls\nimport_without_tls()\n"
        "import ssl, hashlib, urllib.request\nassert hashlib.sha256(b'').hexdigest()"
    )
    assert _loaded(code, ["ssl", "urllib.request"]) == "['ssl', 'urllib.request']"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pes_agent_run_maps_no_pydantic(tmp_path: Path) -> None:
    """A real `pes-agent run` (the broker is not there: it keeps retrying); what it has mapped:
    without TLS neither pydantic nor OpenSSL's libraries."""
    conf = tmp_path / "agent.toml"
    conf.write_text(
        'device_id = "gw-light"\ndevice_type = "t"\nfirmware_version = "1"\n'
        f'account_id = "a"\nbuffer_path = "{tmp_path / "b.db"}"\n'
        f"[mqtt]\nport = {_free_port()}\n"
    )
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--config", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "b.sock").exists():
            assert proc.poll() is None and time.monotonic() < deadline, tmp_path / "agent.log"
            time.sleep(0.05)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert "pydantic_core" not in maps and "msgspec" in maps
    assert "libssl" not in maps and "libcrypto" not in maps and "_ssl." not in maps
    assert proc.returncode == 0, (tmp_path / "agent.log").read_text()


def test_agent_modules_do_not_import_collector_dependencies() -> None:
    assert _loaded("import sys, agent.cli, agent.agent, agent.sock, agent.telemetry", HEAVY) == "[]"


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
