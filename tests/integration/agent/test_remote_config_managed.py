"""Remote configuration managed from the collector, end to end: a real Mosquitto with the ACL
and logins made by `pes-collector provision-*` (per-device passwords), `pes-collector serve`,
a real `pes-agent run`, and `pes-collector agents config set|show|clear` as processes.

The agent applies what the collector publishes (its status heartbeat speeds up from 600 s to
1 s, a sampling rate thins its feature_use events) and the collector's API shows the version
the agent reports; a refused message's reason reaches /v1/fleet; a device's own login can
neither write configuration (the broker refuses) nor read another type's or device's."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit.broker import BrokerSecurity, LocalBroker
from shared.errors import PublishFailed
from shared.topics import (
    device_config_topic,
    device_type_config_topic,
    fleet_config_topic,
    status_topic,
)
from tests.kits.pes import start_collector, stop, wait_http
from tests.kits.real_agent import agent_config, feed, start_agent, wait_socket
from tests.kits.security import (
    API_TOKEN,
    COLLECTOR_USER,
    SHIPPED_ACL,
    client,
    roundtrip,
    secret_share_group,
    write_collector_config,
)

pytestmark = pytest.mark.timeout(180)
DEVICE, OTHER, TYPE = "gw-rc1", "gw-rc2", "press x/2"
USERS = {name: secrets.token_urlsafe(16) for name in (COLLECTOR_USER, DEVICE, OTHER)}


@dataclass
class Env:
    tmp: Path
    broker: LocalBroker
    conf: Path  # the collector's settings
    http: int

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "collector.cli", "agents", "config", *args,
             "--config", str(self.conf)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def api(self, path: str) -> Any:
        r = httpx.get(f"http://127.0.0.1:{self.http}{path}",
                      headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)  # fmt: skip
        r.raise_for_status()
        return r.json()

    def status(self, device_id: str) -> dict[str, Any]:
        rows = self.api("/v1/devices")
        rows = rows.get("devices", rows) if isinstance(rows, dict) else rows
        row = next((d for d in rows if d["device_id"] == device_id), None)
        return (row or {}).get("status") or {}


def provision(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "collector.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    # The shipped ACL, completed by the provisioning commands as an operator would run them.
    # Not under tmp_path (private to root): Mosquitto reads it as the mosquitto user.
    etc = Path(tempfile.mkdtemp(prefix="pes-rc-acl-"))
    os.chmod(etc, 0o755)
    acl, passwd = etc / "pes.acl", etc / "pes.passwd"
    acl.write_text(SHIPPED_ACL.read_text())
    provision("provision-collector", "--passwd", str(passwd), "--acl", str(acl),
              f"--password={USERS[COLLECTOR_USER]}", "--hasher", "builtin")  # fmt: skip
    provision("provision-device", DEVICE, "--device-type", TYPE, "--passwd", str(passwd),
              "--acl", str(acl), f"--password={USERS[DEVICE]}", "--hasher", "builtin")  # fmt: skip
    provision("provision-device", OTHER, "--device-type", "other-type", "--passwd", str(passwd),
              "--acl", str(acl), f"--password={USERS[OTHER]}", "--hasher", "builtin")  # fmt: skip
    os.chmod(acl, 0o644)  # Mosquitto reads it after dropping root
    broker = LocalBroker(security=BrokerSecurity(USERS, acl_file=acl))
    await asyncio.to_thread(broker.start)
    conf, http = write_collector_config(
        tmp_path, broker.port, USERS[COLLECTOR_USER], share_group=secret_share_group()
    )
    proc = start_collector(conf, tmp_path / "collector.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http}/healthz", 60, proc)
        yield Env(tmp_path, broker, conf, http)
    finally:
        stop(proc, 20)
        await asyncio.to_thread(broker.cleanup)
        shutil.rmtree(etc, ignore_errors=True)


async def until(cond: Callable[[], object], what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(cond):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def published(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


async def test_collector_configures_a_real_agent_through_the_acl(env: Env) -> None:
    conf = agent_config(env.tmp, env.broker.port, DEVICE, device_type=TYPE,
                        status_min_interval_s=0.2,
                        mqtt={"username": DEVICE, "password": USERS[DEVICE]})  # fmt: skip
    agent = start_agent(conf, env.tmp / "agent.log")
    try:
        await wait_socket(env.tmp / f"{DEVICE}.sock", agent)
        await until(lambda: env.status(DEVICE).get("state") == "online", "first status")
        assert env.status(DEVICE).get("config_version") is None  # local settings only

        # Refused before publishing: a key agents cannot change at run time, a bad value.
        for bad, why in (("window=5", "window"), ("feature_sample_rate=2", "<= 1")):
            done = env.cli("set", "--fleet", bad)
            assert done.returncode == 2 and why in done.stderr, done.stderr
        assert "no configuration published" in env.cli("show").stdout

        # Fleet, device type, device: merged by the agent, device over type over fleet.
        fleet = published(env.cli("set", "--fleet", "status_interval_s=600", "drain_rate_eps=0"))
        assert (fleet["version"], fleet["topic"]) == ("1", fleet_config_topic())
        kind = published(env.cli("set", "--device-type", TYPE, "feature_sample_rate=0"))
        assert kind["topic"] == device_type_config_topic(TYPE)
        own = published(env.cli("set", "--device", DEVICE, "status_interval_s=1"))
        assert own["settings"] == {"status_interval_s": 1.0}
        await until(lambda: env.status(DEVICE).get("config_version") == "fleet=1;type=1;device=1",
                    "applied versions in the collector's API")  # fmt: skip
        fleet_page = env.api("/v1/fleet")
        assert {"config_version": "fleet=1;type=1;device=1", "devices": 1, "refused": 0} in (
            fleet_page["configs"])  # fmt: skip

        # status_interval_s = 1 s applied: heartbeats keep coming with nothing else changing
        # (the local setting, 600 s, would send none in this time).
        seen = {env.status(DEVICE)["sent_ms"]}

        def three_heartbeats() -> bool:
            seen.add(env.status(DEVICE)["sent_ms"])
            return len(seen) >= 3

        await until(three_heartbeats, "heartbeats every second")

        # Sampling 0 from the device type: answered, not stored, not sent.
        acked: set[str] = set()
        assert await feed(env.tmp / f"{DEVICE}.sock", acked, lines=50) == 50
        assert len(acked) == 50
        await asyncio.sleep(1.5)
        stats = env.api("/v1/stats")
        assert stats["events"] == 0, stats

        # `set` merges into the current message and counts the version up; --unset removes.
        again = published(env.cli("set", "--fleet", "batch_max_events=100", "--unset",
                                  "drain_rate_eps"))  # fmt: skip
        assert again["version"] == "2"
        assert again["settings"] == {"status_interval_s": 600.0, "batch_max_events": 100}
        shown = json.loads(env.cli("show", "--format", "json").stdout)
        assert {(r["level"], r["target"], r["version"]) for r in shown} == {
            ("fleet", None, "2"), ("type", TYPE, "1"), ("device", DEVICE, "1")}  # fmt: skip
        await until(lambda: env.status(DEVICE).get("config_version")
                    == "fleet=2;type=1;device=1", "new fleet version applied")  # fmt: skip

        # Cleared type level: sampling back to the local 1.0, events flow again.
        published(env.cli("clear", "--device-type", TYPE))
        await until(lambda: env.status(DEVICE).get("config_version") == "fleet=2;device=1",
                    "type level removed")  # fmt: skip
        assert await feed(env.tmp / f"{DEVICE}.sock", acked, lines=20) == 20
        await until(lambda: env.api("/v1/stats")["events"] == 20, "events after sampling off")

        # A message the agent refuses (published around the CLI, with the collectors' login):
        # the reason reaches /v1/fleet, the applied versions stay.
        admin = client(env.broker.port, COLLECTOR_USER, USERS[COLLECTOR_USER])
        async with admin:
            await admin.wait_connected(30)
            refusable = {"version": 9, "settings": {"buffer_path": "/tmp/x"}}
            await admin.publish(
                device_config_topic(DEVICE), json.dumps(refusable).encode(), retain=True
            )

        def refused() -> dict[str, Any] | None:
            rows = env.api("/v1/fleet?limit=1000")["attention"]
            return next((r for r in rows if r["device_id"] == DEVICE and r["config_error"]), None)

        await until(refused, "refusal on /v1/fleet")
        row = refused()
        assert row is not None and "buffer_path" in row["config_error"]
        assert row["config_version"] == "fleet=2;device=1"

        # The CLI shows it as invalid and will not merge into it; --replace --version does.
        assert "INVALID: buffer_path" in env.cli("show", "--device", DEVICE).stdout
        done = env.cli("set", "--device", DEVICE, "collection=on")
        assert done.returncode == 2 and "--replace --version" in done.stderr, done.stderr
        published(env.cli("set", "--device", DEVICE, "--replace", "--version", "10",
                          "status_interval_s=1"))  # fmt: skip
        await until(lambda: env.status(DEVICE).get("config_version") == "fleet=2;device=10"
                    and not env.status(DEVICE).get("config_error"), "replaced")  # fmt: skip
    finally:
        agent.terminate()
        code = await asyncio.to_thread(agent.wait, 30)
    assert code == 0, (env.tmp / "agent.log").read_text()[-3000:]


async def test_a_device_login_cannot_write_or_read_other_configuration(env: Env) -> None:
    published(env.cli("set", "--fleet", "status_interval_s=300"))
    published(env.cli("set", "--device-type", "other-type", "collection=off"))
    published(env.cli("set", "--device", OTHER, "batch_max_events=10"))
    published(env.cli("set", "--device-type", TYPE, "batch_max_events=20"))
    published(env.cli("set", "--device", DEVICE, "batch_max_events=30"))

    dev = client(env.broker.port, DEVICE, USERS[DEVICE], client_id=DEVICE)
    for topic in (fleet_config_topic(), device_type_config_topic(TYPE),
                  device_config_topic(DEVICE), device_type_config_topic("other-type"),
                  device_config_topic(OTHER), "pes/v1/config/#", status_topic(DEVICE)):  # fmt: skip
        dev.subscribe(topic)
    async with dev:
        await dev.wait_connected(30)
        seen = await roundtrip(dev, DEVICE)
        got = {m.topic: json.loads(m.payload)["settings"] for m in seen if "config" in m.topic}
        # Its own three levels, nothing of another type or device.
        assert got == {
            fleet_config_topic(): {"status_interval_s": 300.0},
            device_type_config_topic(TYPE): {"batch_max_events": 20},
            device_config_topic(DEVICE): {"batch_max_events": 30},
        }
        # Writing any configuration is refused by the broker (PUBACK "not authorized").
        bad = json.dumps({"version": 99, "settings": {"collection": "off"}}).encode()
        for topic in (fleet_config_topic(), device_type_config_topic(TYPE),
                      device_config_topic(DEVICE), device_config_topic(OTHER)):  # fmt: skip
            with pytest.raises(PublishFailed, match="authori"):
                await dev.publish(topic, bad, retain=True)
    shown = json.loads(env.cli("show", "--format", "json").stdout)
    assert {(r["level"], r["target"], r["version"]) for r in shown} == {
        ("fleet", None, "1"), ("type", "other-type", "1"), ("type", TYPE, "1"),
        ("device", OTHER, "1"), ("device", DEVICE, "1")}  # fmt: skip
    # The device's login does not work for the CLI either (it cannot read back the probe).
    device_conf = env.tmp / "device-as-collector.toml"
    device_conf.write_text(env.conf.read_text().replace(
        f'username = "{COLLECTOR_USER}"', f'username = "{DEVICE}"').replace(
        f'password = "{USERS[COLLECTOR_USER]}"', f'password = "{USERS[DEVICE]}"'))  # fmt: skip
    done = Env(env.tmp, env.broker, device_conf, env.http).cli("set", "--fleet", "collection=off")
    assert done.returncode == 1 and "probe" in done.stderr, done.stderr
