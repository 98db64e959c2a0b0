"""The Fleet page's numbers from each store (SQLite file and real PostgreSQL): agent states,
silent devices, buffered backlog and stream gaps, and the registry of a device whose agent
status arrived before its first event."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from collector.ingest.parse import parse_batch
from collector.records import ParsedMessage
from collector.storage import Store

NOW = 1_773_480_000_000  # 2026-03-14T09:20:00Z
DAY = 86_400_000


def batch(device: str, first: int, last: int, at: int) -> ParsedMessage:
    events = [
        {"id": f"0190a000-0000-7000-8000-{hash(device) % 10**6:06d}{seq:06d}", "seq": seq,
         "kind": "feature_use", "feature": "calibrate", "ts": at - 1000,
         "device_type": "press-x", "firmware_version": "2.1", "account_id": "acme"}
        for seq in range(first, last + 1)
    ]  # fmt: skip
    doc = {"v": 1, "device_id": device, "stream_id": "s1", "first_seq": first, "last_seq": last,
           "sent_ms": at, "sent_mono": 1, "boot": "b", "events": events}  # fmt: skip
    return parse_batch(f"pes/v1/dev/{device}/events", json.dumps(doc).encode(), None, at,
                       ZoneInfo("UTC"))  # fmt: skip


def status(device: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "device_id": device, "state": state, "sent_ms": NOW, **extra}


async def test_fleet_summary_and_attention_list(store: Store) -> None:
    # busy: its status (7 buffered, oldest 30 s) comes before its events; 6..7 never arrive
    await store.save_status(
        "busy", status("busy", "online", buffer_depth=7, oldest_age_s=30.0), NOW
    )
    await store.write([batch("busy", 1, 5, NOW)], NOW)
    await store.write([batch("busy", 8, 10, NOW)], NOW)
    await store.write([batch("quiet", 1, 3, NOW - 2 * DAY)], NOW - 2 * DAY)  # silent, no status
    await store.save_status("gone", status("gone", "offline"), NOW)  # never sent an event
    await store.write([batch("fine", 1, 2, NOW)], NOW)
    await store.save_status("fine", status("fine", "online", config_version="fleet=2"), NOW)
    # refused a newer device message: still runs fleet=2, and is worth a look
    await store.write([batch("picky", 1, 1, NOW)], NOW)
    picky = status("picky", "online", config_version="fleet=2",
                   config_error="device: window: not a setting")  # fmt: skip
    await store.save_status("picky", picky, NOW)

    f = await store.fleet(NOW, 20)
    assert {k: v for k, v in f.items() if k not in ("attention", "configs")} == {
        "devices": 5, "online": 3, "offline": 1, "no_status": 1,
        "seen_24h": 3, "silent_24h": 2,
        "buffer_events": 7, "devices_with_backlog": 1, "oldest_buffered_s": 30.0,
    }  # fmt: skip
    worst = [
        (d["device_id"], d["buffer_depth"], d["gap_events"], d["state"], d["config_error"])
        for d in f["attention"]
    ]
    assert worst == [
        ("busy", 7, 2, "online", None),
        ("gone", 0, 0, "offline", None),
        ("quiet", 0, 0, None, None),
        ("picky", 0, 0, "online", "device: window: not a setting"),
    ]
    assert f["attention"][-1]["config_version"] == "fleet=2"
    # per applied version, devices with a status only (quiet has none)
    assert f["configs"] == [
        {"config_version": "fleet=2", "devices": 2, "refused": 1},
        {"config_version": None, "devices": 2, "refused": 0},
    ]
    assert len((await store.fleet(NOW, 1))["attention"]) == 1

    busy = next(d for d in await store.devices(10, 0) if d["device_id"] == "busy")
    assert (busy["device_type"], busy["account_id"], busy["events"]) == ("press-x", "acme", 8)
    assert busy["first_seen_ms"] is not None and busy["last_seen_ms"] is not None
