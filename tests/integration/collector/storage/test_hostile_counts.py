"""Property test (issue 16): random device-controlled values sent into every counter path
(batch ranges, event seqs, drop ranges, streams, status counters), through the real parser
and each backend's write; afterwards every stored-state read the endpoints make (`stats`,
`fleet`, `devices`: /v1/stats, /metrics, /readyz, /v1/fleet, /v1/devices) answers, and
every figure stays within 64 bits."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import httpx
from pydantic import ValidationError

from collector.api import AppState, create_app
from collector.ingest.parse import parse_batch
from collector.records import ParsedMessage, StatusRow
from collector.settings import load_settings
from collector.storage import Store
from shared import limits as L
from shared.models import AgentStatus
from shared.topics import events_topic
from tests.integration.collector.storage.test_backends import NOW, UTC

EDGES = [1, 2, 3, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**53 - 1, 2**53, 2**53 + 1, 2**63, 2**70]
INT64 = 2**63 - 1


def number(rng: random.Random) -> int:
    return rng.choice([*EDGES, rng.randint(1, 2**53), rng.randint(0, 10), -rng.randint(0, 5)])


def hostile_batch(rng: random.Random, device: str) -> ParsedMessage:
    first, last = number(rng), number(rng)
    if rng.random() < 0.7:
        first, last = min(first, last), max(first, last)
    drops = [
        {"first_seq": number(rng), "last_seq": number(rng), "reason": "buffer_full"}
        for _ in range(rng.randint(0, 3))
    ]
    events = [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "seq": rng.choice([first, last, number(rng)]),
            "kind": "feature_use",
            "feature": "calibrate",
            "ts": NOW - 1000,
            "device_type": "press-x",
            "firmware_version": "2.1",
            "account_id": "acme",
        }
        for _ in range(rng.randint(0, 4))
    ]
    doc = {
        "v": 1, "device_id": device, "stream_id": f"s{rng.randint(0, 150)}",
        "first_seq": first, "last_seq": last, "sent_ms": NOW, "sent_mono": 1, "boot": "b",
        "drops": drops, "events": events,
    }  # fmt: skip
    return parse_batch(events_topic(device), json.dumps(doc).encode(), None, NOW, UTC)


def hostile_status(rng: random.Random, device: str) -> StatusRow | None:
    doc: dict[str, Any] = {
        "v": 1, "device_id": device, "state": "online", "buffer_depth": number(rng),
        "dropped": number(rng), "oldest_age_s": float(number(rng)), "sent_ms": NOW,
    }  # fmt: skip
    try:  # what the ingest loop does with a status (ingest/loop.py: _parse_status)
        return device, AgentStatus.model_validate(doc).model_dump()
    except ValidationError:
        return None


async def test_random_device_values_never_break_a_count(store: Store) -> None:
    rng = random.Random(16)
    devices = [f"gw-{i}" for i in range(4)]
    for _ in range(40):
        units = [hostile_batch(rng, rng.choice(devices)) for _ in range(rng.randint(1, 12))]
        statuses = [s for d in devices if (s := hostile_status(rng, d)) is not None]
        counts = await store.write(units, NOW, statuses)
        assert len(counts) == len(units)
    stats = await store.stats()
    fleet = await store.fleet(NOW, 20)
    rows = await store.devices(1000, 0)
    figures = [v for v in stats.values() if isinstance(v, int)]
    figures += [v for v in fleet.values() if isinstance(v, int)]
    for r in rows + fleet["attention"]:
        figures += [r["gap_events"], r["dropped_events"]]
        assert r["gap_events"] <= L.MAX_STREAM_COUNT * L.MAX_STREAMS_PER_DEVICE_PER_DAY
    assert all(0 <= v <= INT64 for v in figures), figures
    # ... and no endpoint built on them answers 5xx.
    app = create_app(AppState(load_settings(None), store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for path in ("/v1/stats", "/v1/fleet", "/v1/devices", "/metrics", "/v1/pes",
                     "/v1/health", "/v1/overview", "/v1/trend"):  # fmt: skip
            r = await c.get(
                path,
                params={"end": "2026-03-14"}
                if path.startswith("/v1/") and path not in ("/v1/stats", "/v1/fleet", "/v1/devices")
                else None,
            )
            assert r.status_code < 500, (path, r.status_code, r.text[:300])
        assert (await c.get("/readyz")).status_code in (200, 503)  # 503: no broker here
