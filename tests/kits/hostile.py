"""Shared by the hostile-input tests (tests/unit/*/test_hostile_*.py): hypothesis settings and
strategies for what an attacker or a buggy caller may send."""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import sqlite3
import string
import uuid
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from shared import limits as L

# Deterministic (CI reruns the same examples, no example database) and bounded (fast suite).
FAST = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(FAST, max_examples=100)  # examples that build whole batches or agents

EDGE_CHARS = [
    "\x00", "\ud800", "\udfff", "\ud83d", "\u202e", "\u200f", "\u061c", "\ufeff", "\uffff",
    "\U0010ffff", "😀", "e\u0301", "'", '"', "\\", "%", "_", "/", "+", "#", " ", "\n", "\t",
    ";", "--", "$", "{", "}",
]  # fmt: skip
# Unicode edge cases (lone surrogates, NUL, right-to-left marks, BOM), SQL and MQTT
# metacharacters, and strings around every length limit.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(EDGE_CHARS), max_size=20).map("".join),
    st.sampled_from(EDGE_CHARS),
    st.sampled_from([0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 5000, 100_000]).map(
        lambda n: "x" * n
    ),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**53, 2**53 + 1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=12,
)

# The patterns of shared/limits.py, built from alphabets (st.from_regex is much slower).
_ALNUM = string.ascii_letters + string.digits
_LOWER = string.ascii_lowercase
ids = st.builds(operator.add, st.sampled_from(_ALNUM), st.text(_ALNUM + "._:-", max_size=63))
names = st.builds(operator.add, st.sampled_from(_ALNUM), st.text(_ALNUM + "._:-/ +", max_size=63))
kinds = st.builds(
    operator.add, st.sampled_from(_LOWER), st.text(_LOWER + "0123456789_", max_size=31)
)
keys = st.text(min_size=1, max_size=L.MAX_KEY_LEN)
label_values = st.text(max_size=L.MAX_VALUE_LEN)
prop_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    label_values,
)


# -- a small fleet, some of its labels hostile -----------------------------------------------
DAY_MS = 86_400_000
# Label values a query must return verbatim (never execute): SQL, quotes, wildcards, NUL, RTL.
HOSTILE_SITES = [
    "plant-3",
    "x'); DROP TABLE events; --",
    "' OR '1'='1",
    'a"b\\c',
    "50% _off_",
    "nul\x00byte",
    "\u202eevil",
    "Robert'); DELETE FROM activity_day WHERE ('1'='1",
]
HOSTILE_KEY = "k'); DROP TABLE events;--"  # a label key (at most 32 characters)


def fleet_units(now_ms: int, *, devices: int = 12, days: int = 35) -> list[Any]:
    """Parsed batches (collector.ingest.ParsedMessage) for `devices` devices of three types,
    active on most of the last `days` days; each device's `site` label is one of
    HOSTILE_SITES and every event also carries HOSTILE_KEY."""
    from zoneinfo import ZoneInfo

    from collector.ingest.parse import parse_batch

    units = []
    for i in range(devices):
        device = f"gw-{i:02d}"
        labels = {"site": HOSTILE_SITES[i % len(HOSTILE_SITES)], HOSTILE_KEY: "v"}
        events: list[dict[str, Any]] = []
        for d in range(days):
            if (i + d) % 3 == 0:
                continue
            for kind, feature in (("session_start", None), ("feature_use", f"feature-{d % 5}")):
                events.append(
                    {
                        "id": str(uuid.UUID(int=(i << 40) + (d << 8) + len(events) + 1)),
                        "seq": len(events) + 1,
                        "kind": kind,
                        **({"feature": feature} if feature else {}),
                        "ts": now_ms - d * DAY_MS - 3_600_000,
                        "device_type": ("press-x", "lathe-9", "mill-3")[i % 3],
                        "firmware_version": ("2.0", "2.1")[i % 2],
                        "account_id": f"acct-{i % 4}",
                        "labels": labels,
                        "props": {"note": HOSTILE_SITES[(i + d) % len(HOSTILE_SITES)]},
                    }
                )
        doc = {"v": 1, "device_id": device, "stream_id": "s1", "first_seq": 1,
               "last_seq": len(events), "sent_ms": now_ms, "sent_mono": 1, "boot": "b",
               "events": events}  # fmt: skip
        out = parse_batch(
            f"pes/v1/dev/{device}/events", json.dumps(doc).encode(), None, now_ms, ZoneInfo("UTC")
        )
        assert len(out.events) == len(events), out.quarantined
        units.append(out)
    return units


# -- the collector's HTTP API in process -----------------------------------------------------
API_TOKEN = "hostile-test-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


class ApiHarness:
    """The collector's FastAPI app on a SQLite store loaded with `fleet_units`, called through
    httpx's ASGI transport on one private event loop (so sync hypothesis tests can drive it)."""

    def __init__(self, db: Path, now_ms: int) -> None:
        from collector.api import AppState, create_app
        from collector.settings import load_settings
        from collector.storage import open_store

        self.db = db
        self.settings = load_settings(
            None,
            storage={"url": f"sqlite:///{db}"},
            api={"tokens": [API_TOKEN]},
            ingest={"enabled": False},  # API only: /readyz needs no broker
        )
        self.loop = asyncio.new_event_loop()
        self.store = open_store(self.settings.storage.url)
        self.loop.run_until_complete(self.store.__aenter__())
        self.loop.run_until_complete(self.store.write(fleet_units(now_ms), now_ms))
        self.app = create_app(AppState(self.settings, self.store))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://collector", timeout=60
        )

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kw))

    def openapi(self) -> dict[str, Any]:
        return dict(self.app.openapi())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.store.__aexit__(None, None, None))
        self.loop.close()


def db_snapshot(db: Path) -> dict[str, Any]:
    """Schema, row counts and integrity of a SQLite database (to prove it intact)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        schema = sorted(con.execute("SELECT type, name, sql FROM sqlite_master"))
        counts = {
            name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608
            for kind, name, _ in schema
            if kind == "table"
        }
        check = con.execute("PRAGMA integrity_check").fetchall()
    return {"schema": schema, "counts": counts, "integrity": check}
