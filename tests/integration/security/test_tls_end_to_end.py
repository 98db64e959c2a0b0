"""TLS end to end: certificates made by the test, Mosquitto's TLS listener with logins and the
shipped ACL, a real agent and `pes-collector serve` (its own process) both over TLS."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.agent import Agent
from agent.settings import AgentSettings
from devkit.broker import BrokerSecurity, LocalBroker
from shared.errors import BrokerUnavailable
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import status_topic
from tests.kits.pes import api_get, start_collector, stop, wait_http
from tests.kits.security import (
    COLLECTOR_USER,
    SHIPPED_ACL,
    Certs,
    agent_mqtt_settings,
    client,
    login_result,
    make_certs,
    mqtt_settings,
    now_ms,
    roundtrip,
    secret_share_group,
    write_collector_config,
)

USERS = {name: secrets.token_urlsafe(16) for name in (COLLECTOR_USER, "gw-tls", "gw-other")}


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "certs")


@pytest.fixture
async def tls_broker(certs: Certs) -> AsyncIterator[LocalBroker]:
    security = BrokerSecurity(
        USERS,
        acl_file=SHIPPED_ACL,
        tls_ca=certs.ca,
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
    )
    async with LocalBroker(security=security) as broker:
        assert broker.tls_port
        yield broker


async def test_agent_and_collector_over_tls_store_and_ack(
    tmp_path: Path, certs: Certs, tls_broker: LocalBroker
) -> None:
    conf, http = write_collector_config(
        tmp_path,
        tls_broker.tls_port,
        USERS[COLLECTOR_USER],
        share_group=secret_share_group(),
        ca_file=certs.ca,
    )
    proc = start_collector(conf, tmp_path / "collector.log")
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{http}/healthz", 60, proc)
        settings = AgentSettings(
            device_id="gw-tls",
            device_type="press-x",
            firmware_version="2.1",
            account_id="acme",
            buffer_path=tmp_path / "agent.db",
            mqtt=agent_mqtt_settings(
                tls_broker.tls_port, "gw-tls", USERS["gw-tls"], ca_file=certs.ca
            ),
            linger_ms=20,
            ack_timeout_s=3.0,  # also covers a first batch sent before the collector subscribed
        )
        async with Agent(settings) as agent:
            for i in range(25):
                await agent.record("feature_use", f"feature-{i % 3}", ts_ms=now_ms() - i)
            # Empty only once the collector has acknowledged every event (over TLS, both ways).
            assert await agent.flush(90)
        stats = await asyncio.to_thread(api_get, http, "/v1/stats")
        assert stats["events"] == 25
        assert stats["quarantined"] == 0
        devices = await asyncio.to_thread(api_get, http, "/v1/devices")
        assert [(d["device_id"], d["events"]) for d in devices] == [("gw-tls", 25)]
    finally:
        code = stop(proc)
    assert code == 0, (tmp_path / "collector.log").read_text()


# paho-mqtt 2.2 leaves the socket of a failed TLS handshake to the garbage collector.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning",
    "ignore:unclosed <ssl.SSLSocket:ResourceWarning",
)
async def test_tls_listener_refuses_untrusted_or_plain_clients(
    certs: Certs, tls_broker: LocalBroker
) -> None:
    port, user, password = tls_broker.tls_port, "gw-tls", USERS["gw-tls"]
    # A client that trusts another CA refuses the broker's certificate.
    async with client(port, user, password, ca_file=certs.other_ca) as wrong_ca:
        assert "certificate verify failed" in (await login_result(wrong_ca)).lower()
    # Plain MQTT on the TLS port never gets a session.
    async with client(port, user, password) as plain:
        with pytest.raises(BrokerUnavailable):
            await plain.wait_connected(3)
    # Logins are checked on this listener too.
    async with client(port, user, "wrong", ca_file=certs.ca) as bad_login:
        assert "Not authorized" in await login_result(bad_login)
    async with client(port, user, password, ca_file=certs.ca) as ok:
        assert await login_result(ok) == "connected"


async def test_device_cannot_take_over_another_devices_client_id(
    certs: Certs, tls_broker: LocalBroker
) -> None:
    """On the TLS listener the client id is replaced by the username: gw-other connecting with
    client id gw-tls does not knock gw-tls off (which a plain client id would)."""
    port = tls_broker.tls_port
    victim = client(port, "gw-tls", USERS["gw-tls"], client_id="gw-tls", ca_file=certs.ca)
    victim.subscribe(status_topic("gw-tls"))
    async with victim:
        await victim.wait_connected(30)
        await roundtrip(victim, "gw-tls")
        impostor_settings: MqttSettings = mqtt_settings(
            port, "gw-other", USERS["gw-other"], ca_file=certs.ca
        )
        impostor = MqttClient(impostor_settings, client_id="gw-tls")
        impostor.subscribe(status_topic("gw-other"))
        async with impostor:
            await impostor.wait_connected(30)
            # Both sessions work: neither was disconnected by the other.
            await roundtrip(impostor, "gw-other")
            await roundtrip(victim, "gw-tls")
            assert (victim.epoch, impostor.epoch) == (1, 1)
