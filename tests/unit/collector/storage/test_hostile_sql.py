"""SQL injection attempts through every query parameter of the API (read from /openapi.json),
through labels, props and device ids in topics, and through the store's filters. The database
is intact afterwards, and every answer is a clean 4xx or the correct one."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.errors import QueryError
from collector.ingest.parse import parse_batch
from collector.ingest.rows import canonical
from collector.records import ParsedMessage
from collector.storage import Store
from tests.kits.hostile import AUTH, HOSTILE_KEY, HOSTILE_SITES, ApiHarness, db_snapshot

NOW = time.time_ns() // 1_000_000
UTC = ZoneInfo("UTC")
INJECTIONS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP TABLE events; --",
    '"; DROP TABLE activity_day; --',
    "1; DELETE FROM devices",
    "x' UNION SELECT name, sql, 1, 1, 1 FROM sqlite_master --",
    "%' OR device_type LIKE '%",
    "press-x' --",
    "label:site') OR ('1'='1",
    "device_type,(SELECT 1)",
    "$1",
    "?",
    "\\",
    "\x00",
]
BASELINE = "no-such-value"
# Compare configurations are attribute:value lists: each injection goes into one of the places
# a configuration has (a value of a column, of a label, a label key, an attribute name).
_CONFIG_PLACES = ("device_type:{}", "device_id:{}", "label:line:{}", "{}:x", "label:{}:v")
CONFIG_INJECTIONS = [
    place.format(inj)
    for i, inj in enumerate(INJECTIONS)
    for place in (_CONFIG_PLACES[i % 5], _CONFIG_PLACES[(i + 2) % 5])
]
CONFIG_BASELINE = f"device_type:{BASELINE}"
# /v1/compare's required parameters, and its cheapest bootstrap (the default is 1,000).
REQUIRED = {"a": "device_type:press-x", "b": "device_type:lathe-9", "resamples": "100"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    harness = ApiHarness(tmp_path_factory.mktemp("sql") / "c.db", NOW)
    try:
        yield harness
    finally:
        harness.close()


def query_params(api: ApiHarness) -> list[tuple[str, str]]:
    """(path, parameter) for every query parameter of every /v1 operation."""
    spec = api.openapi()
    return [
        (path, p["name"])
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/")
        for op in ops.values()
        for p in op.get("parameters", [])
        if p["in"] == "query"
    ]


def _escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def test_injection_through_every_query_parameter(api: ApiHarness) -> None:
    before = db_snapshot(api.db)
    params = query_params(api)
    assert ("/v1/pes", "group_by") in params and ("/v1/devices", "offset") in params
    tried = 0
    for path, name in params:
        config = name in "abcdef" and len(name) == 1
        payloads = CONFIG_INJECTIONS if config else INJECTIONS
        baseline_value = CONFIG_BASELINE if config else BASELINE
        base = {k: v for k, v in REQUIRED.items() if path == "/v1/compare" and k != name}
        baseline = api.request("GET", path, params={**base, name: baseline_value}, headers=AUTH)
        assert baseline.status_code < 500, (path, name, baseline.text)
        for payload in payloads:
            r = api.request("GET", path, params={**base, name: payload}, headers=AUTH)
            tried += 1
            assert r.status_code < 500, (path, name, payload, r.text[:300])
            if r.status_code >= 400:
                continue
            # Accepted: then exactly the answer for a value that matches nothing (what the
            # response echoes of the value aside).
            assert baseline.status_code == 200, (path, name, payload, r.text[:300])
            answer = r.text.replace(_escaped(payload), _escaped(baseline_value))
            assert answer == baseline.text, (path, name, payload)
    assert tried > 100
    assert db_snapshot(api.db) == before


EXPECTED_SITES = Counter(HOSTILE_SITES[i % len(HOSTILE_SITES)] for i in range(12))


def test_hostile_label_values_are_grouped_verbatim(api: ApiHarness) -> None:
    r = api.request("GET", "/v1/pes", params={"group_by": "label:site"}, headers=AUTH)
    assert r.status_code == 200
    assert {row["label:site"]: row["active"] for row in r.json()} == EXPECTED_SITES


@pytest.mark.parametrize("site", HOSTILE_SITES[1:4] + HOSTILE_SITES[-1:])
def test_hostile_label_values_select_exactly_their_devices(api: ApiHarness, site: str) -> None:
    params = {"a": f"label:site:{site}", "b": "device_type:press-x", "resamples": 100}
    r = api.request("GET", "/v1/compare", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    rows = [x for x in r.json() if x["config"] == "a" and x["metric"] == "pes"]
    assert [(x["definition"], x["active"]) for x in rows] == [
        (f"label:site:{site}", EXPECTED_SITES[site])
    ]


def test_hostile_label_key_cannot_be_used_to_group(api: ApiHarness) -> None:
    r = api.request("GET", "/v1/pes", params={"group_by": f"label:{HOSTILE_KEY}"}, headers=AUTH)
    assert r.status_code == 422


# -- the store itself, both backends ---------------------------------------------------------
def _batch(
    topic_device: str, device: str, labels: dict[str, str], n: int = 3, stream: str = "s1"
) -> ParsedMessage:
    events = [
        {"id": f"0190a000-0000-7000-8000-{seq:012x}", "seq": seq, "kind": "feature_use",
         "feature": "calibrate", "ts": NOW - 1000, "device_type": "press-x",
         "firmware_version": "2.1", "account_id": "acme", "labels": labels,
         "props": {k: v for k, v in labels.items()}}
        for seq in range(1, n + 1)
    ]  # fmt: skip
    doc = {"v": 1, "device_id": device, "stream_id": stream, "first_seq": 1, "last_seq": n,
           "sent_ms": NOW, "sent_mono": 1, "boot": "b", "events": events}  # fmt: skip
    topic = f"pes/v1/dev/{topic_device}/events"
    return parse_batch(topic, json.dumps(doc).encode(), None, NOW, UTC)


async def test_injection_through_topics_labels_and_filters(store: Store, tmp_path: Path) -> None:
    # Device ids in topics (the broker's ACL would refuse most; the collector must not care).
    spoofed = [_batch(inj.replace("/", "|"), "gw-sql", {}) for inj in INJECTIONS]
    assert all(u.quarantined[0].reason == "spoofed_device_id" for u in spoofed)
    # Hostile label keys and values (and the same as props) on a valid device.
    labels = {HOSTILE_KEY: INJECTIONS[2], "site": INJECTIONS[0], "q": INJECTIONS[5][:128]}
    good = _batch("gw-sql", "gw-sql", labels)
    assert len(good.events) == 3
    # An invalid label key holding NUL: the quarantine detail quotes it (PostgreSQL text
    # cannot hold NUL: this once failed every retry of the transaction).
    nul_key = _batch("gw-sql", "gw-sql", {"\x00'; DROP TABLE events; --" * 2: "v"}, 1, "s2")
    assert [q.reason for q in nul_key.quarantined] == ["invalid:labels"]
    counts = await store.write([*spoofed, nul_key, good], NOW)
    assert [c.quarantined for c in counts[:-1]] == [1] * (len(spoofed) + 1)
    assert (counts[-1].stored, counts[-1].quarantined) == (3, 0)
    stats = await store.stats()
    assert (stats["events"], stats["quarantined"], stats["devices"]) == (3, len(spoofed) + 1, 1)

    until = date.fromtimestamp(NOW / 1000) + timedelta(days=1)
    everything = await store.activity("device", until)
    assert [row[3] for row in everything] == [canonical(labels)]  # stored verbatim
    for inj in INJECTIONS:
        for column in ("device_type", "firmware_version", "account_id", "device_id"):
            if "\x00" in inj:  # refused up front (PostgreSQL text cannot hold it)
                with pytest.raises(QueryError, match="NUL"):
                    await store.activity("device", until, {column: inj})
                continue
            assert await store.activity("device", until, {column: inj}) == []
            since = until - timedelta(days=3)
            assert await store.features("device", since, until, {column: inj}) == []
        with pytest.raises(QueryError):
            await store.activity("device", until, {inj: "press-x"})
        with pytest.raises(QueryError):
            await store.sessions("device", until, until, {f"device_type = 'x' OR {inj}": "x"})
    assert await store.activity("device", until) == everything
    assert await store.stats() == stats

    if (tmp_path / "c.db").exists():  # SQLite: read the rows back directly, and check it all
        snap = db_snapshot(tmp_path / "c.db")
        assert snap["integrity"] == [("ok",)]
        with contextlib.closing(sqlite3.connect(tmp_path / "c.db")) as con:
            topics = {d for (d,) in con.execute("SELECT device_id FROM quarantine")}
            props = {p for (p,) in con.execute("SELECT props FROM events")}
        assert topics == {inj.replace("/", "|") for inj in INJECTIONS} | {"gw-sql"}
        assert props == {canonical(labels)}
