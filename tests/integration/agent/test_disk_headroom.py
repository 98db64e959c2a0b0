"""Disk headroom: a real `pes-agent run` whose buffer lives on a small private tmpfs (see
tests/integration/reliability/tmpfs.py) with `min_free_mb` set. When the file system runs low
the buffer stops growing and drop_oldest applies (drops counted, kept as ranges), the start
and the end of the episode are logged once each, and the agent recovers by itself once space
is freed."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from devkit import free_port
from tests.kits.pes import stop
from tests.kits.real_agent import agent_config, feed, start_agent, wait_socket
from tests.kits.reliability.tmpfs import fill, probe, tmpfs_prefix

pytestmark = pytest.mark.timeout(120)
MIB = 1 << 20
WHY_NOT = probe()


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def metrics(port: int) -> dict[str, float]:
    """The agent's own figures (its buffer is in its mount namespace: SQLite, resolving
    /proc/PID/root, would open the host's path instead)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


@pytest.mark.skipif(WHY_NOT is not None, reason=f"no private tmpfs here: {WHY_NOT}")
async def test_low_disk_stops_growth_drops_oldest_and_recovers(tmp_path: Path) -> None:
    mnt, port = tmp_path / "mnt", free_port()
    mnt.mkdir()
    sock = tmp_path / "gw-disk.sock"  # outside the tmpfs: the test reaches it from the host
    conf = agent_config(
        tmp_path, free_port(), "gw-disk", buffer_path=mnt / "gw-disk.db", socket_path=sock,
        min_free_mb=4, max_buffer_mb=16, metrics_port=port,
    )  # fmt: skip
    log = tmp_path / "agent.log"
    proc = start_agent(conf, log, prefix=tmpfs_prefix(mnt, 16 * 1024))
    try:
        await wait_socket(sock, proc)
        root = Path(f"/proc/{proc.pid}/root{mnt}")
        filler = root / "filler"
        fill(filler, keep_free=7 * MIB)  # 7 MiB free, 4 of them to be kept
        ok: set[str] = set()
        errors: list[bytes] = []
        assert await feed(sock, ok, lines=40_000, errors=errors) == 40_000
        assert not errors and len(ok) == 40_000  # drop_oldest: every event is taken...
        m = metrics(port)
        dropped = m["pes_agent_dropped_events_total"]
        assert dropped > 0 and m["pes_agent_pending_drop_ranges"] >= 1  # ...old ones go
        assert m["pes_agent_commit_failures_total"] == 0
        assert free_bytes(root) >= 3 * MIB  # the headroom held (less what a commit may take)
        text = log.read_text()
        assert text.count("below min_free_mb") == 1, text[-2000:]

        filler.unlink()  # space again: no more drops, and it says so once
        assert await feed(sock, ok, lines=5_000, errors=errors) == 5_000
        assert not errors
        assert metrics(port)["pes_agent_dropped_events_total"] == dropped
        text = log.read_text()
        assert text.count("free again") == 1 and text.count("below min_free_mb") == 1
        assert proc.poll() is None
    finally:
        assert stop(proc, 30) == 0
    assert "Traceback" not in log.read_text()
