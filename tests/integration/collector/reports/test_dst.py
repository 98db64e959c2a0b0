"""Day boundaries in the collector's zone across both 2026 daylight-saving changes in
Europe/Berlin (03-29 02:00 CET -> 03:00 CEST, 10-25 03:00 CEST -> 02:00 CET): events imported
with `pes-collector import` land on their local day, and DAU matches a hand computation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.kits.analytics import reference_series

# (device, UTC timestamp) -> Berlin local day, worked out by hand:
EVENTS = [
    ("d6", "2026-03-28T22:59:00Z"),  # 23:59 CET              -> 03-28
    ("d1", "2026-03-28T23:30:00Z"),  # 00:30 CET (UTC+1)      -> 03-29 (UTC day 03-28)
    ("d2", "2026-03-29T00:59:00Z"),  # 01:59 CET, last minute before the switch -> 03-29
    ("d3", "2026-03-29T01:00:00Z"),  # 03:00 CEST (UTC+2)     -> 03-29
    ("d5", "2026-03-29T21:59:00Z"),  # 23:59 CEST             -> 03-29
    ("d4", "2026-03-29T22:30:00Z"),  # 00:30 CEST             -> 03-30 (UTC day 03-29)
    ("d7", "2026-10-24T21:59:00Z"),  # 23:59 CEST             -> 10-24
    ("d8", "2026-10-24T22:30:00Z"),  # 00:30 CEST             -> 10-25 (UTC day 10-24)
    ("d9", "2026-10-25T00:30:00Z"),  # 02:30 CEST, first pass -> 10-25
    ("d9", "2026-10-25T01:30:00Z"),  # 02:30 CET, second pass -> 10-25 (same device, one day)
    ("d7", "2026-10-25T22:30:00Z"),  # 23:30 CET (UTC+1)      -> 10-25
    ("d8", "2026-10-25T23:30:00Z"),  # 00:30 CET              -> 10-26 (UTC day 10-25)
]
DAU = {
    "2026-03-28": 1,
    "2026-03-29": 4,
    "2026-03-30": 1,
    "2026-03-31": 0,
    "2026-10-24": 1,
    "2026-10-25": 3,
    "2026-10-26": 1,
}
UTC_DAU = {"2026-03-28": 2, "2026-03-29": 4, "2026-03-30": 0}  # what a UTC collector would say


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=120
    )


def events() -> list[dict[str, object]]:
    return [
        {
            "id": f"00000000-0000-4000-8000-{k:012d}",
            "device_id": d,
            "account_id": "acme",
            "device_type": "press-x",
            "firmware_version": "1.0",
            "kind": "session_start",
            "ts": ts,
        }
        for k, (d, ts) in enumerate(EVENTS)
    ]


def series(conf: Path, start: str, end: str) -> dict[str, int]:
    res = cli(
        "overview",
        "--config",
        str(conf),
        "--start",
        start,
        "--end",
        end,
        "--table",
        "series",
        "--format",
        "json",
    )
    assert res.returncode == 0, res.stderr
    return {r["day"]: r["dau"] for r in json.loads(res.stdout)}


def test_dst_days_in_europe_berlin(tmp_path: Path) -> None:
    data = tmp_path / "dst.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in events()))
    by_zone = {}
    for zone in ("Europe/Berlin", "UTC"):
        conf = tmp_path / f"{zone.replace('/', '-')}.toml"
        db = tmp_path / f"{zone.replace('/', '-')}.db"
        conf.write_text(f'[storage]\nurl = "sqlite:///{db}"\n[pes]\ntimezone = "{zone}"\n')
        res = cli("import", str(data), "--config", str(conf))
        assert res.returncode == 0 and json.loads(res.stdout)["stored"] == len(EVENTS)
        got = series(conf, "2026-03-28", "2026-03-31")
        got |= series(conf, "2026-10-24", "2026-10-26")
        by_zone[zone] = got
    assert by_zone["Europe/Berlin"] == DAU
    assert {d: by_zone["UTC"][d] for d in UTC_DAU} == UTC_DAU
    # The brute-force reference agrees on local days (WAU and MAU included).
    from datetime import date

    ref = reference_series(
        events(), "device", date(2026, 3, 28), date(2026, 3, 31), ZoneInfo("Europe/Berlin")
    )
    assert {d.isoformat(): dau for d, dau, _, _ in ref} == {
        d: n for d, n in DAU.items() if d.startswith("2026-03")
    }
