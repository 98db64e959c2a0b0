"""Scale suite, `rows` part: on-disk bytes per row of every PostgreSQL table after 1,000
gateways' day went through the collector's own parse and write path (docs/scaling.md)."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench.core import Figure
from bench.scale_kit import pg_database
from collector.ingest.parse import parse_batch
from collector.storage import open_store
from shared import codec
from shared.topics import events_topic


# -- storage per row ----------------------------------------------------------------------
def day_of_gateway(device: str, events: int, start_ms: int) -> list[tuple[str, bytes, str]]:
    """One gateway's day as the agent would send it: sessions of 10 events (session_start,
    8 feature uses over 6 features, session_end with its duration), 2 labels and a prop on
    every event, in batches of 50."""
    stream = f"s-{secrets.token_hex(8)}"
    evs: list[dict[str, Any]] = []
    for seq in range(1, events + 1):
        k = (seq - 1) % 10
        kind = "session_start" if k == 0 else "session_end" if k == 9 else "feature_use"
        ev: dict[str, Any] = {
            "id": str(uuid.uuid4()), "seq": seq, "kind": kind,
            "session_id": f"sess-{(seq - 1) // 10}", "user_id": f"op-{seq % 3}",
            "ts": start_ms + seq * 400_000, "device_type": "gateway-x1",
            "firmware_version": "4.2.1", "account_id": f"acct-{hash(device) % 5000}",
            "labels": {"site": "plant-3", "line": "a"}, "props": {"job": seq},
        }  # fmt: skip
        if kind == "feature_use":
            ev["feature"] = f"feature-{seq % 6}"
        if kind == "session_end":
            ev["props"] = {"duration_s": 900}
        evs.append(ev)
    out = []
    for b in range(0, events, 50):
        chunk = evs[b : b + 50]
        doc = {"v": 1, "device_id": device, "stream_id": stream,
               "first_seq": chunk[0]["seq"], "last_seq": chunk[-1]["seq"],
               "sent_ms": chunk[-1]["ts"], "sent_mono": 1000, "boot": "b-1",
               "events": chunk}  # fmt: skip
        payload, ctype = codec.encode(doc)
        out.append((events_topic(device), payload, ctype))
    return out


async def row_sizes(devices: int) -> list[Figure]:
    """Stores `devices` gateways' day of 200 events each through the collector's own parse and
    write path, then measures every table."""
    received = time.time_ns() // 1_000_000
    start = (received // 86_400_000 - 2) * 86_400_000 + 3_600_000  # 01:00 UTC, 2 days ago
    tz = ZoneInfo("UTC")
    async with pg_database() as dsn:
        async with open_store(dsn) as store:
            # As in service: the housekeeping job has made that day's partition (PostgreSQL).
            await store.create_partitions(datetime.fromtimestamp(start / 1000, UTC).date())
            units = []
            for d in range(devices):
                for topic, payload, ctype in day_of_gateway(f"gw-{d:07d}", 200, start):
                    units.append(parse_batch(topic, payload, ctype, received, tz))
                if len(units) >= 40:
                    await store.write(units, received)
                    units = []
            if units:
                await store.write(units, received)
        con = await asyncpg.connect(dsn)
        try:
            await con.execute("VACUUM ANALYZE")
            sizes: dict[str, int] = {}
            for t in await con.fetch(
                "SELECT relname, pg_total_relation_size(relid) AS size FROM pg_stat_user_tables"
            ):  # the day partitions of events count as events
                name = "events" if t["relname"].startswith("events_") else t["relname"]
                sizes[name] = sizes.get(name, 0) + int(t["size"])
            events = await con.fetchval("SELECT count(*) FROM events")
            assert events == devices * 200, events
            out, total = [], 0
            for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
                count = await con.fetchval(f'SELECT count(*) FROM "{name}"')  # noqa: S608
                total += size
                if count >= devices / 2:  # not the small dictionaries (page-size noise)
                    out.append(Figure(
                        f"db_{name}_bytes", size / count, "bytes/row",
                        note=f"{count:,} rows ({count / devices:.2f} per device-day), "
                             "with indexes and TOAST",
                    ))  # fmt: skip
            out.append(Figure(
                "db_bytes_per_event", total / events, "bytes",
                note=f"all tables / {events:,} events ({devices:,} gateways x 200 events, one day)",
            ))  # fmt: skip
            return out
        finally:
            await con.close()
