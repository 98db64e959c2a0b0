"""The e2e benchmark's probes as test data (bench/e2e.py): one feature_use each, each with a
firmware version of its own, so that each adds one row to the PES table by firmware."""

from __future__ import annotations

from datetime import date

from collector.reports.query import make_query
from collector.settings import PesSettings
from tests.kits.analytics import Event

SETTINGS = PesSettings()
PROBE_DAY = date(2026, 2, 20)
# The poller's table: /v1/pes?device_type=probe&group_by=firmware_version over 30 days.
PROBE_QUERY = make_query(SETTINGS, start=date(2026, 1, 22), end=PROBE_DAY,
                         group_by="firmware_version", filters={"device_type": "probe"})  # fmt: skip


def probe_event(n: int, device: str = "gw1") -> Event:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "device_id": device,
        "account_id": "acct",
        "device_type": "probe",
        "firmware_version": f"p{n:03d}",
        "kind": "feature_use",
        "feature": "probe",
        "ts": f"{PROBE_DAY.isoformat()}T12:00:00Z",
    }
