"""`pes-collector export` as a real process beside a real `pes-collector serve` on the same store
(SQLite and PostgreSQL):
DuckDB's counts of the files equal what the API reports; a missing pyarrow is a clear message."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.cli.main import main
from devkit.broker import free_port
from tests.kits.export import warehouse
from tests.kits.pes import (
    PgDatabase,
    api_get,
    start_collector,
    stop,
    wait_http,
    write_collector_config,
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


class _Database(PgDatabase):
    """A throwaway PostgreSQL database for a synchronous test."""

    def __enter__(self) -> PgDatabase:
        return asyncio.run(self.__aenter__())

    def __exit__(self, *exc: object) -> None:
        asyncio.run(self.__aexit__())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/collector.db"
    else:
        with _Database() as db:
            yield db.dsn


def test_export_matches_the_api_of_a_running_collector(
    tmp_path: Path, specs_dir: Path, storage_url: str
) -> None:
    conf, http = write_collector_config(
        tmp_path, free_port(), extra="enabled = false", storage_url=storage_url
    )
    loaded = cli("import", str(specs_dir / "pes-example-events.jsonl"), "--config", str(conf))
    assert loaded.returncode == 0, loaded.stderr
    proc = start_collector(conf, tmp_path / "collector.log")
    out = tmp_path / "warehouse"
    args = ("export", "--config", str(conf), "--to", str(out), "--end", "2026-03-14",
            "--pes-days", "7", "--format", "parquet")  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz", proc=proc)
        run = cli(*args)
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        db = warehouse(out)
        stats = api_get(http, "/v1/stats")
        assert db.sql("SELECT count(*) FROM events").fetchall() == [(stats["events"],)]
        devices = api_get(http, "/v1/devices")
        assert db.sql("SELECT count(DISTINCT device_id) FROM events").fetchall() == [
            (len(devices),)
        ]
        for entity in ("device", "account"):
            api = api_get(http, "/v1/pes", start="2026-03-08", end="2026-03-14", entity=entity)
            files = db.sql(
                "SELECT device_type, firmware_version, active, pes FROM pes "
                "WHERE day = DATE '2026-03-14' AND entity = ? ORDER BY 1, 2",
                params=[entity],
            ).fetchall()
            want = sorted(
                (r["device_type"], r["firmware_version"], r["active"], r["pes"]) for r in api
            )
            assert files == want and files  # the same engine: equal, not close
        # Run again: nothing new to write, nothing duplicated.
        again = cli(*args)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["written"] == {}
        assert db.sql("SELECT count(*) FROM events").fetchall() == [(stats["events"],)]
        assert summary["rows"]["events"] == stats["events"]
    finally:
        code = stop(proc)
    assert code == 0, (tmp_path / "collector.log").read_text()


def test_without_pyarrow_the_command_says_how_to_install_it(
    tmp_path: Path,
    specs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    conf, _ = write_collector_config(tmp_path, free_port())
    assert (
        cli("import", str(specs_dir / "pes-example-events.jsonl"), "--config", str(conf)).returncode
        == 0
    )
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    code = main(["export", "--config", str(conf), "--to", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 1
    assert "pip install 'pes-telemetry[export]'" in err
    assert not (tmp_path / "w").exists()


def test_bad_ranges_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, _ = write_collector_config(tmp_path, free_port())
    code = main(["export", "--config", str(conf), "--to", str(tmp_path / "w"),
                 "--start", "2026-03-14", "--end", "2026-03-01"])  # fmt: skip
    assert code == 2 and "--start is after --end" in capsys.readouterr().err
