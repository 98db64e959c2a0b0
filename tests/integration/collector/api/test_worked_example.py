"""pes.md's worked example through the product's own doors: `pes-collector import` + `report`,
and the HTTP API, every row and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.api import AppState, create_app
from collector.settings import load_settings
from collector.storage import open_store

FIELDS = ("active", "adoption", "stickiness", "growth", "pes", "new", "recovered", "dropped",
          "quick_ratio")  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def example(tmp_path: Path, specs_dir: Path) -> tuple[Path, dict[str, Any]]:
    expected = json.loads((specs_dir / "pes-example-expected.json").read_text())
    conf = tmp_path / "collector.toml"
    core = "\n".join(f"{k} = {json.dumps(v)}" for k, v in expected["core_features"].items())
    conf.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n[pes]\ntimezone = "UTC"\n'
        f'[pes.core_features]\n{core}\n[api]\ntokens = ["t0k"]\n'
    )
    res = cli("import", str(specs_dir / "pes-example-events.jsonl"), "--config", str(conf))
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary == {"lines": 69, "stored": 68, "duplicates": 1, "quarantined": 0}
    return conf, expected


def check(rows: list[dict[str, Any]], expected: dict[str, Any], stick_key: str) -> None:
    want = expected["expected"]
    assert [(r["device_type"], r["firmware_version"]) for r in rows] == [
        (w["device_type"], w["firmware_version"]) for w in want
    ]
    for got, w in zip(rows, want, strict=True):
        for f in FIELDS:
            exp = w[stick_key] if f == "stickiness" else w[f]
            if f == "pes" and stick_key != "stickiness":
                continue  # expected PES is given for dau_wau only
            if exp is None or (isinstance(exp, int) and f != "pes"):
                assert got[f] == exp, (got, f)
            else:
                assert got[f] == pytest.approx(exp, abs=1e-4), (got, f)


@pytest.mark.parametrize(("mode", "key"), [("dau_wau", "stickiness"),
                                           ("dau_mau", "stickiness_dau_mau")])  # fmt: skip
def test_report_json_matches_worked_example(example: Any, mode: str, key: str) -> None:
    conf, expected = example
    res = cli("report", "--config", str(conf), "--start", expected["start"], "--end",
              expected["end"], "--stickiness", mode, "--format", "json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    check(json.loads(res.stdout), expected, key)


def test_report_table_is_readable(example: Any) -> None:
    conf, expected = example
    res = cli("report", "--config", str(conf), "--start", expected["start"], "--end",
              expected["end"], "--stickiness", "dau_wau", "--format", "table")  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["device_type", "firmware_version", "active"]
    assert "83.3" in lines[2] and "52.4" in lines[3] and "81.0" in lines[4]


def test_import_twice_counts_nothing_twice(example: Any, specs_dir: Path) -> None:
    conf, _ = example
    res = cli("import", str(specs_dir / "pes-example-events.jsonl"), "--config", str(conf))
    assert json.loads(res.stdout) == {"lines": 69, "stored": 0, "duplicates": 69,
                                      "quarantined": 0}  # fmt: skip


async def test_api_matches_worked_example_and_requires_token(example: Any) -> None:
    conf, expected = example
    settings = load_settings(conf)
    async with open_store(settings.storage.url) as store:
        app = create_app(AppState(settings, store))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            params = {"start": expected["start"], "end": expected["end"], "stickiness": "dau_wau",
                      "group_by": "device_type,firmware_version"}  # fmt: skip
            assert (await client.get("/v1/pes", params=params)).status_code == 401
            bad = await client.get("/v1/pes", params=params, headers={"Authorization": "Bearer x"})
            assert bad.status_code == 401
            ok = await client.get("/v1/pes", params=params, headers={"Authorization": "Bearer t0k"})
            assert ok.status_code == 200
            check(ok.json(), expected, "stickiness")
            assert (await client.get("/healthz")).status_code == 200
            wrong = await client.get("/v1/pes", params={"group_by": "evil;drop"},
                                     headers={"Authorization": "Bearer t0k"})  # fmt: skip
            assert wrong.status_code == 422
            assert "unknown group_by" in wrong.json()["detail"]
            spec = (await client.get("/openapi.json")).json()
            assert "/v1/pes" in spec["paths"]
