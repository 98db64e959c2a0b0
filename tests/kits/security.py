"""Helpers for the security tests: test certificates, a collector process with a broker login,
MQTT clients with credentials, and batches built by hand (so a test can forge them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.settings import MqttSettings as AgentMqttSettings
from agent.settings import Secret
from devkit.broker import free_port
from shared.models import AgentStatus
from shared.mqtt import Message, MqttClient, MqttSettings
from shared.topics import status_topic

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ACL = REPO / "deploy" / "mosquitto" / "pes.acl"
SHIPPED_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
COLLECTOR_USER = "pes-collector"
API_TOKEN = "test-token"
_ids = itertools.count()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- certificates --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Certs:
    ca: Path  # signed the server certificate
    server_cert: Path  # SAN: IP 127.0.0.1 and DNS localhost
    server_key: Path
    other_ca: Path  # a CA that signed nothing here: clients trusting only it must fail


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
    key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
    decipher_only=False,
)  # fmt: skip


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _ca(dir: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = dir / f"{cn.replace(' ', '-').lower()}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_certs(dir: Path) -> Certs:
    """A private CA and a server certificate for 127.0.0.1, made here (no network, no openssl)."""
    dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert, ca_path = _ca(dir, "PES Test CA")
    _, _, other_path = _ca(dir, "Unrelated CA")
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = dir / "server.crt", dir / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return Certs(ca_path, cert_path, key_path, other_path)


# -- collector process -----------------------------------------------------------------------
def write_collector_config(
    dir: Path,
    mqtt_port: int,
    password: str,
    *,
    share_group: str,
    ca_file: Path | None = None,
    storage_url: str | None = None,
) -> tuple[Path, int]:
    """A collector logging in as pes-collector (over TLS when `ca_file` is given), storing in
    `storage_url` (default: a SQLite file in `dir`)."""
    http_port = free_port()
    url = storage_url or f"sqlite:///{dir}/collector.db"
    tls = f'tls = true\nca_file = "{ca_file}"\n' if ca_file else ""
    conf = dir / "collector.toml"
    conf.write_text(
        f'[storage]\nurl = "{url}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nreconnect_max_s = 1.0\n'
        f'username = "{COLLECTOR_USER}"\npassword = "{password}"\n{tls}'
        f'[api]\nhost = "127.0.0.1"\nport = {http_port}\ntokens = ["{API_TOKEN}"]\n'
        f'[ingest]\nclient_id = "collector-{http_port}"\nshare_group = "{share_group}"\n'
    )
    return conf, http_port


def secret_share_group() -> str:
    return f"pes-{secrets.token_hex(12)}"


# -- MQTT clients ----------------------------------------------------------------------------
def mqtt_settings(
    port: int, user: str | None, password: str | None, *, ca_file: Path | None = None
) -> MqttSettings:
    return MqttSettings(
        port=port,
        username=user,
        password=password,
        tls=ca_file is not None,
        ca_file=str(ca_file) if ca_file else None,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.5,
        keepalive=10,
    )


def agent_mqtt_settings(
    port: int, user: str, password: str, *, ca_file: Path | None = None
) -> AgentMqttSettings:
    """mqtt_settings' values as the agent's own (msgspec) settings type."""
    return AgentMqttSettings(
        port=port,
        username=user,
        password=Secret(password),
        tls=ca_file is not None,
        ca_file=str(ca_file) if ca_file else None,
        reconnect_initial_s=0.05,
        reconnect_max_s=0.5,
        keepalive=10,
    )


def client(
    port: int,
    user: str | None,
    password: str | None,
    *,
    client_id: str | None = None,
    ca_file: Path | None = None,
) -> MqttClient:
    cid = client_id or f"{user or 'anon'}-{next(_ids)}"
    return MqttClient(mqtt_settings(port, user, password, ca_file=ca_file), client_id=cid)


async def next_message(c: MqttClient, topic: str, timeout: float = 30) -> Message:
    """The next message on `topic`; messages on other topics are kept in `c.seen`-style lists
    by the caller if needed (here they are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"nothing on {topic} within {timeout}s")
        m = await asyncio.wait_for(c.messages.get(), left)
        if m.topic == topic:
            return m


def drain(c: MqttClient) -> list[Message]:
    out = []
    while not c.messages.empty():
        out.append(c.messages.get_nowait())
    return out


# -- batches ---------------------------------------------------------------------------------
def event(seq: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "seq": seq,
        "kind": "feature_use",
        "feature": "calibrate",
        "ts": now_ms() - 1000,
        "device_type": "press-x",
        "firmware_version": "2.1",
        "account_id": "acme",
    }
    ev.update(over)
    return ev


def batch(device_id: str, first: int, n: int, *, stream: str = "s1", **ev: Any) -> bytes:
    doc = {
        "v": 1,
        "device_id": device_id,
        "stream_id": stream,
        "first_seq": first,
        "last_seq": first + n - 1,
        "sent_ms": now_ms(),
        "sent_mono": 1,
        "boot": "b",
        "events": [event(first + i, **ev) for i in range(n)],
    }
    return json.dumps(doc).encode()


def status_payload(device_id: str, marker: str = "") -> bytes:
    """A valid AgentStatus; `marker` (in `version`) tells one publish from another."""
    return (
        AgentStatus(device_id=device_id, state="online", version=marker[:32], sent_ms=now_ms())
        .model_dump_json()
        .encode()
    )


async def roundtrip(c: MqttClient, device_id: str, timeout: float = 30) -> list[Message]:
    """Publish a marker on the device's own status topic and wait for it to come back (the
    client must be subscribed to it, e.g. through `#`). Mosquitto routes messages in the order
    it receives them, so whatever it routed to this client before the marker has arrived by
    then: returns every message received up to and including the marker."""
    marker = secrets.token_hex(8)
    await c.publish(status_topic(device_id), status_payload(device_id, marker))
    seen: list[Message] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"marker {marker} never came back to {device_id}")
        m = await asyncio.wait_for(c.messages.get(), left)
        seen.append(m)
        if m.topic == status_topic(device_id) and marker.encode() in m.payload:
            return seen


async def login_result(c: MqttClient, timeout: float = 30) -> str:
    """'connected', or the first error (a refusal, a TLS failure): the client must be entered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.connected.is_set():
            return "connected"
        if c.last_error:
            return c.last_error
        await asyncio.sleep(0.05)
    raise TimeoutError(f"neither connected nor refused: {c.last_error}")
