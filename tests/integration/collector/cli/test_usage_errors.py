"""Mistakes on the command line get one clear line and exit status 2, and a read command never
creates a store (it once made /var/lib/pes/collector.db and said "no active entities")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

READ_COMMANDS = [["report"], ["pes"], ["trend"], ["overview"], ["health"], ["funnel"],
                 ["retention"],
                 ["compare", "--a", "firmware_version:1", "--b", "firmware_version:2"]]  # fmt: skip


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_a_read_command_without_a_store_fails_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "data" / "c.db"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[storage]\nurl = "sqlite:///{db}"\n')
    res = cli(*command, "--config", str(conf), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"pes-collector: no collector store at {db}: pass --config with the [storage] url of "
        "an existing store (serve and import create one)"
    ]
    assert not db.exists() and not db.parent.exists()


def test_import_still_creates_the_store(tmp_path: Path) -> None:
    db = tmp_path / "data" / "c.db"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[storage]\nurl = "sqlite:///{db}"\n')
    (tmp_path / "e.jsonl").write_text("")
    assert (
        cli("import", str(tmp_path / "e.jsonl"), "--config", str(conf), cwd=tmp_path).returncode
        == 0
    )
    assert db.is_file()
    assert cli("report", "--config", str(conf), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("command", [["report"], ["pes"], ["health"]], ids=lambda c: c[0])
@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "14.03.2026"])
def test_a_bad_date_is_one_line(tmp_path: Path, command: list[str], bad: str) -> None:
    res = cli(*command, "--start", bad, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"pes-collector: argument --start: {bad!r} is not a date: use YYYY-MM-DD"
    ]
    assert "usage:" not in res.stderr and "Traceback" not in res.stderr
