"""A device can speak only for itself: a real Mosquitto with logins and the shipped ACL
(deploy/mosquitto/pes.acl, read in place), and `pes-collector serve` as its own process.

One broker and one collector serve the whole module; each test uses devices of its own."""

from __future__ import annotations

import contextlib
import gzip
import json
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.broker import BrokerSecurity, LocalBroker
from shared import limits as L
from shared.errors import PublishFailed
from shared.models import Ack
from shared.mqtt import MqttClient
from shared.topics import DEFAULT_SHARE_GROUP, ack_topic, events_topic, status_topic
from tests.kits.pes import start_collector, stop, wait_http
from tests.kits.security import (
    API_TOKEN,
    COLLECTOR_USER,
    SHIPPED_ACL,
    batch,
    client,
    drain,
    event,
    login_result,
    next_message,
    now_ms,
    roundtrip,
    secret_share_group,
    status_payload,
    write_collector_config,
)

DEVICES = ("gw-a", "gw-b", "gw-c", "gw-d", "gw-e", "gw-f")
USERS = {name: secrets.token_urlsafe(16) for name in (COLLECTOR_USER, *DEVICES)}


@dataclass
class Env:
    broker: LocalBroker
    http: int
    db: Path
    log: Path
    proc: Any

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the collector's SQLite database (WAL: readers do not block its writer)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as con:
            con.execute("PRAGMA busy_timeout = 30000")
            return list(con.execute(sql, params))

    def api(self, path: str, token: str | None = API_TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{self.http}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("broker-access")
    broker = LocalBroker(security=BrokerSecurity(USERS, acl_file=SHIPPED_ACL))
    broker.start()
    conf, http = write_collector_config(
        tmp, broker.port, USERS[COLLECTOR_USER], share_group=secret_share_group()
    )
    log = tmp / "collector.log"
    proc = start_collector(conf, log)
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz", 60, proc)
        deadline = time.monotonic() + 60
        while httpx.get(f"http://127.0.0.1:{http}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, f"collector never logged in: {log.read_text()}"
            time.sleep(0.1)
        yield Env(broker, http, tmp / "collector.db", log, proc)
    finally:
        code = stop(proc)
        broker.cleanup()
    assert code == 0, log.read_text()


@contextlib.asynccontextmanager
async def device(env: Env, name: str, *filters: str) -> AsyncIterator[MqttClient]:
    """A device logged in with its own password, subscribed to its ack topic (and `filters`)."""
    c = client(env.broker.port, name, USERS[name], client_id=name)
    for f in (ack_topic(name), *filters):
        c.subscribe(f)
    async with c:
        await c.wait_connected(30)
        yield c


async def send(c: MqttClient, name: str, payload: bytes, *, retry_s: float = 0) -> Ack:
    """Publish on the device's own events topic and return the collector's ack. With `retry_s`,
    publish again (as an agent would) while no ack arrives: for the first batch of a module,
    which may beat the collector's subscription to the broker."""
    doc = json.loads(payload)
    want = (doc["stream_id"], doc["first_seq"], doc["last_seq"])
    while True:
        await c.publish(events_topic(name), payload)
        deadline = time.monotonic() + (retry_s or 60)
        try:
            while True:
                left = deadline - time.monotonic()
                msg = await next_message(c, ack_topic(name), timeout=max(left, 0.001))
                ack = Ack.model_validate_json(msg.payload)
                if (ack.stream_id, ack.first_seq, ack.last_seq) == want:
                    return ack
        except TimeoutError:
            if not retry_s:
                raise


@pytest.fixture
async def warm(env: Env) -> Env:
    """The collector's shared subscription is in place (a batch went through and was acked)."""
    async with device(env, "gw-f") as f:
        await send(f, "gw-f", batch("gw-f", 1, 1, stream=f"warm-{now_ms()}"), retry_s=2)
    return env


async def test_clients_without_valid_credentials_are_refused(env: Env) -> None:
    cases = {
        "anonymous": (None, None),
        "wrong password": ("gw-a", "wrong"),
        "another device's password": ("gw-a", USERS["gw-b"]),
        "the collector's login with a device's password": (COLLECTOR_USER, USERS["gw-a"]),
        "unknown user": ("gw-nobody", USERS["gw-a"]),
        "username in other case": ("GW-A", USERS["gw-a"]),
        "empty password": ("gw-a", ""),
        "wildcard username": ("+", USERS["gw-a"]),
    }
    results = {}
    for what, (user, password) in cases.items():
        async with client(env.broker.port, user, password) as c:
            results[what] = await login_result(c)
    assert {k: "Not authorized" in v for k, v in results.items()} == dict.fromkeys(cases, True)
    async with client(env.broker.port, "gw-a", USERS["gw-a"]) as ok:
        assert await login_result(ok) == "connected"


async def test_device_cannot_publish_on_another_devices_topics(warm: Env) -> None:
    env = warm
    forged = batch("gw-b", 1, 3, stream="forged")
    targets = [
        events_topic("gw-b"),  # speak for gw-b
        ack_topic("gw-b"),  # fake an ack, so gw-b deletes events never stored
        status_topic("gw-b"),  # overwrite gw-b's retained status
        events_topic(COLLECTOR_USER),
        "pes/v1/dev/gw-b",
        "pes/v1/other",
        "gw-b/events",
        "$SYS/broker/uptime",
    ]
    async with device(env, "gw-a") as a:
        for topic in targets:
            with pytest.raises(PublishFailed, match="Not authorized"):
                await a.publish(topic, forged)
        # Its own topic works; the collector handles messages in order, so the forged ones
        # would have reached it before this one.
        ack = await send(a, "gw-a", batch("gw-a", 1, 2, stream="own"))
    assert (ack.stored, ack.quarantined) == (2, 0)
    assert env.query("SELECT count(*) FROM events WHERE device_id = 'gw-b'") == [(0,)]
    assert env.query("SELECT count(*) FROM events WHERE stream_id = 'forged'") == [(0,)]
    assert env.query("SELECT count(*) FROM quarantine WHERE topic LIKE '%gw-b%'") == [(0,)]


SNOOP_FILTERS = (
    "#",
    "+/#",
    "pes/#",
    "pes/v1/dev/+/ack",
    "pes/v1/dev/gw-a/ack",
    "pes/v1/dev/+/events",
    "pes/v1/dev/gw-a/events",
    "pes/v1/dev/+/status",
    "pes/v1/dev/gw-a/status",
    "$share/snoop/pes/v1/dev/+/events",
    f"$share/{DEFAULT_SHARE_GROUP}/pes/v1/dev/+/events",
    "$share/snoop/pes/v1/dev/+/ack",
    "$SYS/#",
)


async def test_device_cannot_read_other_devices_traffic(warm: Env) -> None:
    env = warm
    async with device(env, "gw-a") as a:  # retained before the snoop subscribes
        await a.publish(status_topic("gw-a"), status_payload("gw-a"), retain=True)
    async with device(env, "gw-c", *SNOOP_FILTERS) as snoop:
        seen = await roundtrip(snoop, "gw-c")  # its subscriptions are in place
        async with device(env, "gw-a") as a:
            acks = [
                await send(a, "gw-a", batch("gw-a", 10 * i + 1, 3, stream="snooped"))
                for i in range(6)
            ]
            await a.publish(status_topic("gw-a"), status_payload("gw-a", "later"))
        seen += await roundtrip(snoop, "gw-c")  # what was routed to it has arrived
        seen += drain(snoop)
    # gw-a's batches reached the collector (none went to the snoop's "$share" groups, not even
    # to one named like the collectors' default group) and gw-a got its acks.
    assert [(x.stored, x.quarantined) for x in acks] == [(3, 0)] * 6
    foreign = [m.topic for m in seen if not m.topic.startswith("pes/v1/dev/gw-c/")]
    assert foreign == []
    assert {m.topic for m in seen} == {status_topic("gw-c")}


async def test_payload_claiming_another_device_is_quarantined_as_spoofed(warm: Env) -> None:
    env = warm
    async with device(env, "gw-d") as d:
        ack = await send(d, "gw-d", batch("gw-a", 1, 4, stream="spoofed"))
    # Acked to the topic's device (resending cannot fix it), nothing stored.
    assert (ack.stored, ack.duplicates, ack.quarantined) == (0, 0, 1)
    rows = env.query(
        "SELECT topic, device_id, reason FROM quarantine WHERE topic = ?", events_topic("gw-d")
    )
    assert rows == [(events_topic("gw-d"), "gw-d", "spoofed_device_id")]
    assert env.query("SELECT count(*) FROM events WHERE stream_id = 'spoofed'") == [(0,)]
    assert env.query("SELECT count(*) FROM streams WHERE stream_id = 'spoofed'") == [(0,)]


def _hostile_payloads() -> dict[str, tuple[bytes, str]]:
    """name -> (payload, expected quarantine reason)."""
    good = json.loads(batch("gw-e", 1, 1))

    def with_event(**over: Any) -> bytes:
        doc = dict(good, stream_id=f"hostile-{secrets.token_hex(4)}", events=[event(1, **over)])
        return json.dumps(doc).encode()

    too_many = dict(good, stream_id="hostile-many", first_seq=1, last_seq=1001)
    too_many["events"] = [event(i + 1) for i in range(L.MAX_EVENTS_PER_BATCH + 1)]
    return {
        "a 5000-digit number": (b"1" * 5000, "bad_json"),
        "a number in a batch beyond int limits": (
            json.dumps(good).encode().replace(b'"sent_mono": 1', b'"sent_mono": ' + b"9" * 5000),
            "bad_json",
        ),
        "nesting 200000 deep": (b"[" * 200_000, "bad_json"),
        "not UTF-8": (b'{"v": 1, "device_id": "\xff\xfe"}', "bad_json"),
        "a gzip bomb": (gzip.compress(b"0" * (L.MAX_DECOMPRESSED_BYTES + 1024)), "too_large"),
        "broken gzip": (b"\x1f\x8b" + b"\x00" * 64, "bad_gzip"),
        "over the payload limit": (b" " * (L.MAX_PAYLOAD_BYTES + 1), "too_large"),
        "an empty object": (b"{}", "bad_envelope"),
        "too many events": (json.dumps(too_many).encode(), "too_many_events"),
        "NaN in props": (with_event(props={"k": float("nan")}), "invalid:props"),
        "a lone surrogate in a label": (with_event(labels={"k": "\ud800"}), "invalid:labels"),
    }


async def test_hostile_payloads_are_quarantined_and_the_collector_lives_on(warm: Env) -> None:
    env = warm
    payloads = _hostile_payloads()
    async with device(env, "gw-e") as e:
        for payload, _ in payloads.values():
            await e.publish(events_topic("gw-e"), payload)
        # Handled in order: once this one is acked, every payload above has been.
        ack = await send(e, "gw-e", batch("gw-e", 1, 5, stream="after-hostile"))
        drain(e)
    assert (ack.stored, ack.quarantined) == (5, 0)
    assert env.proc.poll() is None, env.log.read_text()
    reasons = env.query("SELECT reason FROM quarantine WHERE topic = ?", events_topic("gw-e"))
    assert Counter(r for (r,) in reasons) == Counter(r for _, r in payloads.values())
    stats = env.api("/v1/stats").json()
    assert stats["ingest"]["store_errors"] == 0


BAD_AUTH: dict[str, dict[str, str]] = {
    "no header": {},
    "empty": {"Authorization": ""},
    "scheme only": {"Authorization": "Bearer"},
    "wrong token": {"Authorization": "Bearer wrong"},
    "token with a suffix": {"Authorization": f"Bearer {API_TOKEN}x"},
    "token prefix": {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
    "other case": {"Authorization": f"Bearer {API_TOKEN.upper()}"},
    "two spaces": {"Authorization": f"Bearer  {API_TOKEN}"},
    "basic scheme": {"Authorization": f"Basic {API_TOKEN}"},
    "no scheme": {"Authorization": API_TOKEN},
    "another header": {"X-Api-Token": API_TOKEN},
    "cookie": {"Cookie": f"token={API_TOKEN}"},
}


def test_api_refuses_every_v1_endpoint_without_a_valid_token(env: Env) -> None:
    base = f"http://127.0.0.1:{env.http}"
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    paths: dict[str, dict[str, Any]] = spec["paths"]
    open_paths = {p for p in paths if not p.startswith("/v1/")}
    assert open_paths <= {"/healthz", "/readyz"}, "a data endpoint outside /v1 needs a token too"
    endpoints = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, ops in paths.items()
        if path.startswith("/v1/")
        for method in ops
    ]
    assert ("GET", "/v1/pes") in endpoints
    with httpx.Client(base_url=base, timeout=30) as http:
        for method, path in endpoints:
            for what, headers in BAD_AUTH.items():
                for params in ({}, {"token": API_TOKEN, "access_token": API_TOKEN}):
                    r = http.request(method, path, headers=headers, params=params)
                    assert r.status_code == 401, (method, path, what, params, r.text)
                    assert r.headers.get("www-authenticate") == "Bearer"
            r = http.request(method, path, headers={"Authorization": f"Bearer {API_TOKEN}"})
            assert r.status_code not in (401, 403) and r.status_code < 500, (path, r.text)
