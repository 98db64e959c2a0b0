"""A device with valid credentials cannot damage fleet-wide state (issue 16): a real Mosquitto
with logins and the shipped ACL, `pes-collector serve` as its own process, on SQLite and on
PostgreSQL. Each attack comes from a device's own login on its own topics; afterwards every
endpoint answers, and another device's data is untouched."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.broker import BrokerSecurity, LocalBroker, free_port
from shared import limits as L
from shared.models import Ack
from shared.mqtt import MqttClient
from shared.topics import DEFAULT_SHARE_GROUP, ack_topic, events_topic, status_topic
from tests.kits.pes import PgDatabase, start_collector, stop, wait_http
from tests.kits.security import (
    API_TOKEN,
    COLLECTOR_USER,
    SHIPPED_ACL,
    batch,
    client,
    event,
    next_message,
    now_ms,
    secret_share_group,
    write_collector_config,
)

DEVICES = ("gw-drops", "gw-status", "gw-split", "gw-ids", "gw-fw", "gw-calm")
USERS = {name: secrets.token_urlsafe(16) for name in (COLLECTOR_USER, *DEVICES)}
ENDPOINTS = ("/v1/stats", "/v1/fleet", "/v1/devices", "/metrics", "/readyz", "/v1/pes")


@dataclass
class Env:
    broker: LocalBroker
    http: int
    log: Path
    proc: Any

    def api(self, path: str, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        url = f"http://127.0.0.1:{self.http}{path}"
        return httpx.get(url, headers=headers, params=params, timeout=30)

    def device(self, device_id: str) -> dict[str, Any]:
        rows = self.api("/v1/devices").json()
        return next(r for r in rows if r["device_id"] == device_id)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    pg = PgDatabase() if request.param == "postgres" else None
    if pg is not None:
        asyncio.run(pg.__aenter__())
    broker = LocalBroker(security=BrokerSecurity(USERS, acl_file=SHIPPED_ACL))
    broker.start()
    conf, http = write_collector_config(
        tmp,
        broker.port,
        USERS[COLLECTOR_USER],
        share_group=secret_share_group(),
        storage_url=pg.dsn if pg else None,
    )
    log = tmp / "collector.log"
    proc = start_collector(conf, log)
    try:
        wait_http(f"http://127.0.0.1:{http}/healthz", 60, proc)
        deadline = time.monotonic() + 60
        while httpx.get(f"http://127.0.0.1:{http}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, f"collector never logged in: {log.read_text()}"
            time.sleep(0.1)
        yield Env(broker, http, log, proc)
    finally:
        code = stop(proc)
        broker.cleanup()
        if pg is not None:
            asyncio.run(pg.__aexit__(None, None, None))
    assert code == 0, log.read_text()


@contextlib.asynccontextmanager
async def device(env: Env, name: str) -> AsyncIterator[MqttClient]:
    c = client(env.broker.port, name, USERS[name], client_id=name)
    c.subscribe(ack_topic(name))
    async with c:
        await c.wait_connected(30)
        yield c


async def send(c: MqttClient, name: str, payload: bytes, want: tuple[str, int, int]) -> Ack:
    """Publish on the device's own events topic (again, as an agent would, while no ack comes:
    the first batch may beat the collector's subscription) and return the ack for `want`."""
    while True:
        await c.publish(events_topic(name), payload)
        deadline = time.monotonic() + 3
        with contextlib.suppress(TimeoutError):
            while True:
                left = deadline - time.monotonic()
                msg = await next_message(c, ack_topic(name), timeout=max(left, 0.001))
                ack = Ack.model_validate_json(msg.payload)
                if (ack.stream_id, ack.first_seq, ack.last_seq) == want:
                    return ack


def header(device_id: str, stream: str, first: int, last: int, **more: Any) -> dict[str, Any]:
    return {
        "v": 1, "device_id": device_id, "stream_id": stream, "first_seq": first,
        "last_seq": last, "sent_ms": now_ms(), "sent_mono": 1, "boot": "b", **more,
    }  # fmt: skip


def drops_only(device_id: str, stream: str, first: int, last: int) -> bytes:
    drops = [{"first_seq": first, "last_seq": last, "reason": "buffer_full"}]
    return json.dumps(header(device_id, stream, 1, 1, drops=drops, events=[])).encode()


def assert_all_answer(env: Env) -> None:
    for path in ENDPOINTS:
        r = env.api(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert env.proc.poll() is None, env.log.read_text()


async def calm_device_stores(env: Env) -> None:
    """Everyone else's data: a well-behaved device is stored and acked as before."""
    stream = f"calm-{secrets.token_hex(4)}"
    async with device(env, "gw-calm") as c:
        ack = await send(c, "gw-calm", batch("gw-calm", 1, 5, stream=stream), (stream, 1, 5))
    assert (ack.stored, ack.duplicates, ack.quarantined) == (5, 0, 0)


async def test_drop_declarations_cannot_overflow_any_count(env: Env) -> None:
    name = "gw-drops"
    async with device(env, name) as c:
        ack = await send(c, name, batch(name, 1, 1, stream="real"), ("real", 1, 1))
        assert ack.stored == 1
        # Declared drops within the per-batch cap, on more new streams than a day allows.
        n = L.MAX_STREAMS_PER_DEVICE_PER_DAY + 5
        acks = [
            await send(
                c, name, drops_only(name, f"d{i}", 1, L.MAX_DROPPED_PER_BATCH), (f"d{i}", 1, 1)
            )
            for i in range(n)
        ]
        # The first stream (`real`) counts too: the rest are refused, quarantined and acked.
        assert sum(a.quarantined for a in acks) == n - (L.MAX_STREAMS_PER_DEVICE_PER_DAY - 1)
        # Over the per-batch cap, and reversed: refused (quarantined) and still acked.
        over = drops_only(name, "real", 1, L.MAX_DROPPED_PER_BATCH + 1)
        assert (await send(c, name, over, ("real", 1, 1))).quarantined == 1
        rev = json.dumps(
            header(name, "real", 1, 1, events=[], drops=[
                {"first_seq": 9, "last_seq": 3, "reason": "buffer_full"}])
        ).encode()  # fmt: skip
        assert (await send(c, name, rev, ("real", 1, 1))).quarantined == 1
        # Drops that add up over several batches of one known stream saturate.
        for k in range(3):
            first = 10 + k * L.MAX_DROPPED_PER_BATCH
            payload = drops_only(name, "real", first, first + L.MAX_DROPPED_PER_BATCH - 1)
            await send(c, name, payload, ("real", 1, 1))
    assert_all_answer(env)
    dev = env.device(name)
    # `real` saturates at MAX_STREAM_COUNT; each admitted drops-only stream holds its cap.
    admitted = L.MAX_STREAMS_PER_DEVICE_PER_DAY - 1
    assert dev["dropped_events"] == L.MAX_STREAM_COUNT + admitted * L.MAX_DROPPED_PER_BATCH
    assert dev["dropped_events"] < 2**63
    await calm_device_stores(env)
    assert env.api("/v1/stats").status_code == 200


async def test_a_status_with_huge_numbers_is_ignored(env: Env) -> None:
    name = "gw-status"
    doc = {"v": 1, "device_id": name, "state": "online", "buffer_depth": 2**70, "sent_ms": 1}
    async with device(env, name) as c:
        await send(c, name, batch(name, 1, 1, stream="s"), ("s", 1, 1))  # a devices row
        await c.publish(status_topic(name), json.dumps(doc).encode(), retain=True)
        ok = dict(doc, buffer_depth=L.MAX_STATUS_COUNT, dropped=L.MAX_STATUS_COUNT)
        await c.publish(status_topic("gw-status"), json.dumps(ok).encode(), retain=True)
        deadline = time.monotonic() + 30
        while (env.device(name)["status"] or {}).get("buffer_depth") != L.MAX_STATUS_COUNT:
            assert time.monotonic() < deadline, "the in-range status never arrived"
            await asyncio.sleep(0.2)
        await c.publish(status_topic(name), json.dumps(doc).encode(), retain=True)
        # Statuses are handled in order with batches: once this is acked, the bad one was seen.
        await send(c, name, batch(name, 2, 1, stream="s"), ("s", 2, 2))
    assert env.device(name)["status"]["buffer_depth"] == L.MAX_STATUS_COUNT
    assert_all_answer(env)
    assert "bad status message" in env.log.read_text()


async def test_one_unreadable_event_does_not_take_its_batch_with_it(env: Env) -> None:
    name = "gw-split"
    good = [event(1), event(3), event(6)]
    bad_number = json.dumps(event(2)).encode().replace(b'"seq": 2', b'"seq": ' + b"9" * 5000)
    deep = (
        json.dumps(event(4, labels={"k": "DEEP"}))
        .encode()
        .replace(b'"DEEP"', b"[" * 100_000 + b"]" * 100_000)
    )
    bad_utf8 = json.dumps(event(5, labels={"k": "UTF"})).encode().replace(b"UTF", b"\xff\xfe")
    parts = [json.dumps(e).encode() for e in good]
    items = b", ".join([parts[0], bad_number, parts[1], deep, bad_utf8, parts[2]])
    head = json.dumps(header(name, "split", 1, 6)).encode()[:-1]
    payload = head + b', "events": [' + items + b"]}"
    async with device(env, name) as c:
        ack = await send(c, name, payload, ("split", 1, 6))
        assert (ack.stored, ack.quarantined) == (3, 3)
        # An envelope that cannot be read, its stream and range still legible: acked.
        broken = (
            json.dumps(header(name, "broken", 1, 1))
            .encode()
            .replace(b'"sent_mono": 1', b'"sent_mono": ' + b"9" * 5000)
        )
        ack = await send(c, name, broken, ("broken", 1, 1))
        assert (ack.stored, ack.quarantined) == (0, 1)
    assert_all_answer(env)
    await calm_device_stores(env)


async def test_an_event_id_is_stored_once_per_device(env: Env) -> None:
    name = "gw-ids"
    same = str(uuid.uuid4())
    twice = header(name, "one", 1, 2, events=[event(1, id=same), event(2, id=same)])
    again = header(name, "two", 1, 1, events=[event(1, id=same)])
    async with device(env, name) as c:
        ack = await send(c, name, json.dumps(twice).encode(), ("one", 1, 2))
        assert (ack.stored, ack.duplicates) == (1, 1)
        ack = await send(c, name, json.dumps(again).encode(), ("two", 1, 1))
        assert (ack.stored, ack.duplicates) == (0, 1)
    assert env.device(name)["events"] == 1


async def test_events_splitting_firmware_runs_are_stored_and_ingest_goes_on(env: Env) -> None:
    """Valid events of another firmware inside the device's stored run, write after write: each
    splits a run (the split's read, storage/runbook.py); all are stored, nothing stalls."""
    name = "gw-fw"
    t0 = now_ms() - 3_600_000
    run = [event(1 + k, ts=t0 + 10_000 * k, firmware_version="1.0") for k in range(20)]
    async with device(env, name) as c:
        ack = await send(c, name, json.dumps(header(name, "fw", 1, 20, events=run)).encode(),
                         ("fw", 1, 20))  # fmt: skip
        assert ack.stored == 20
        seq = 21
        for w in range(3):  # 2.0 at 40j + 5 + 10w s: inside the 1.0 runs the writes left
            evs = [event(seq + j, ts=t0 + (40 * j + 5 + 10 * w) * 1000, firmware_version="2.0")
                   for j in range(4)]  # fmt: skip
            doc = header(name, "fw", seq, seq + 3, events=evs)
            ack = await send(c, name, json.dumps(doc).encode(), ("fw", seq, seq + 3))
            assert (ack.stored, ack.quarantined) == (4, 0)
            seq += 4
    assert env.device(name)["events"] == 32
    assert env.api("/v1/releases").status_code == 200
    assert_all_answer(env)
    await calm_device_stores(env)


def test_a_nul_in_any_filter_is_refused(env: Env) -> None:
    spec = env.api("/openapi.json").json()
    paths = [p for p, ops in spec["paths"].items() if p.startswith("/v1/") and "get" in ops]
    assert "/v1/devices" in paths and "/v1/pes" in paths
    for path in paths:
        if "{" in path:
            continue
        r = env.api(path, account_id="a\x00b")
        assert r.status_code == 422, (path, r.status_code, r.text[:200])


def test_serve_warns_when_the_default_share_group_meets_authentication(tmp_path: Path) -> None:
    """Mosquitto lets any login join a shared subscription: with authentication on, a group
    name devices can guess is worth a warning at start-up (a secret one is not)."""
    for group, warned in ((DEFAULT_SHARE_GROUP, True), (secret_share_group(), False)):
        run = tmp_path / group
        run.mkdir()
        conf, http = write_collector_config(run, free_port(), "pw", share_group=group)
        log = run / "collector.log"
        proc = start_collector(conf, log)
        try:
            wait_http(f"http://127.0.0.1:{http}/healthz", 60, proc)
        finally:
            stop(proc)
        assert ("share_group is the default" in log.read_text()) is warned, log.read_text()
