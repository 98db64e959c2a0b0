"""The shipped broker configuration, as shipped: deploy/mosquitto/mosquitto.conf (only its paths
and ports rewritten for a temp dir) with deploy/mosquitto/pes.acl, and a password file made by
`pes-collector provision-device` / `provision-collector`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.cli.main import main as collector_cli
from devkit.broker import find_mosquitto, free_port
from shared.errors import PublishFailed
from shared.topics import events_topic
from tests.kits.security import (
    COLLECTOR_USER,
    SHIPPED_ACL,
    SHIPPED_CONF,
    Certs,
    batch,
    client,
    login_result,
    make_certs,
)


@dataclass
class ShippedBroker:
    proc: subprocess.Popen[bytes]
    plain_port: int
    tls_port: int
    passwd: Path  # devices' logins (the TLS listener)
    collectors_passwd: Path  # collectors' logins (the plain listener)
    acl: Path
    certs: Certs
    log: Path

    def reload(self) -> None:
        """What `systemctl reload mosquitto` does."""
        self.proc.send_signal(signal.SIGHUP)


def rewrite_conf(
    text: str, tmp: Path, plain: int, tls: int, certs: Certs, passwd: Path, collectors: Path
) -> str:
    """The shipped config with its machine paths and ports swapped for the test's own."""
    subs = {
        "password_file /etc/mosquitto/pes.passwd": f"password_file {passwd}",
        "password_file /etc/mosquitto/pes-collectors.passwd": f"password_file {collectors}",
        "acl_file /etc/mosquitto/pes.acl": f"acl_file {SHIPPED_ACL}",
        "persistence_location /var/lib/mosquitto/": f"persistence_location {tmp}/",
        "log_dest file /var/log/mosquitto/mosquitto.log": "log_dest stderr",
        "pid_file /run/mosquitto/mosquitto.pid": f"pid_file {tmp}/mosquitto.pid",
        "listener 1883 127.0.0.1": f"listener {plain} 127.0.0.1",
        "listener 8883": f"listener {tls} 127.0.0.1",  # tests never listen beyond loopback
        "cafile /etc/mosquitto/certs/ca.crt": f"cafile {certs.ca}",
        "certfile /etc/mosquitto/certs/server.crt": f"certfile {certs.server_cert}",
        "keyfile /etc/mosquitto/certs/server.key": f"keyfile {certs.server_key}",
    }
    used: set[str] = set()
    out = []
    for line in text.splitlines():
        key = line.strip()
        if key in subs:
            used.add(key)
            line = subs[key]
        out.append(line)
    missing = set(subs) - used
    assert not missing, f"mosquitto.conf changed; update this test's rewrite for: {missing}"
    result = "\n".join(out) + "\n"
    live = [ln for ln in result.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert not [ln for ln in live if re.search(r"\s/(etc|var|run)/", ln)], live
    return result


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"mosquitto not listening on {port}: {log.read_text()}")


def provision(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `pes-collector provision-*` in process; return its stdout."""
    capsys.readouterr()
    assert collector_cli(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.fixture
def shipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[ShippedBroker]:
    # Not under tmp_path: pytest's base dir is private to root, and Mosquitto started as root
    # runs as the mosquitto user once it has opened its listeners.
    etc = Path(tempfile.mkdtemp(prefix="pes-shipped-"))
    try:
        yield from _run_shipped(etc, tmp_path, capsys)
    finally:
        shutil.rmtree(etc, ignore_errors=True)


def _run_shipped(
    etc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[ShippedBroker]:
    certs = make_certs(etc / "certs")
    passwd, acl = etc / "pes.passwd", etc / "pes.acl"
    collectors = etc / "pes-collectors.passwd"
    shutil.copyfile(SHIPPED_ACL, acl)
    plain, tls = free_port(), free_port()
    conf = etc / "mosquitto.conf"
    text = SHIPPED_CONF.read_text()
    conf.write_text(rewrite_conf(text, etc, plain, tls, certs, passwd, collectors))
    # Provisioning before the broker starts, as in docs/deploy.md (the password files must
    # exist): a first device, so that the devices' file does.
    provision("provision-collector", "--passwd", str(collectors), "--acl", str(acl), capsys=capsys)
    provision("provision-device", "gw-0", "--passwd", str(passwd), "--acl", str(acl), capsys=capsys)
    # Started as root, Mosquitto becomes the mosquitto user before reading these.
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam("mosquitto")
            for p in (etc, etc / "certs", *etc.iterdir(), *(etc / "certs").iterdir()):
                os.chown(p, user.pw_uid, user.pw_gid)
    log = tmp_path / "mosquitto.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)], stdout=fh, stderr=fh, start_new_session=True
        )
    try:
        _wait_listening(plain, proc, log)
        _wait_listening(tls, proc, log)
        yield ShippedBroker(proc, plain, tls, passwd, collectors, acl, certs, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def wait_login(port: int, user: str | None, password: str | None, *, ca: Path | None) -> str:
    async with client(port, user, password, ca_file=ca) as c:
        return await login_result(c)


async def until_accepted(broker: ShippedBroker, port: int, user: str, password: str) -> None:
    """After a reload: log in until the broker has reread its password file."""
    ca = broker.certs.ca if port == broker.tls_port else None
    deadline = time.monotonic() + 30
    while (result := await wait_login(port, user, password, ca=ca)) != "connected":
        assert time.monotonic() < deadline, f"{result}\n{broker.log.read_text()}"
        await asyncio.sleep(0.1)


async def test_provisioned_devices_log_in_over_tls_and_stay_confined(
    shipped: ShippedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--passwd", str(shipped.passwd), "--acl", str(shipped.acl))
    hasher = "mosquitto_passwd" if shutil.which("mosquitto_passwd") else "builtin"
    pw1 = provision("provision-device", "gw-1", *args, "--hasher", "builtin", capsys=capsys)
    pw2 = provision("provision-device", "gw-2", *args, "--hasher", hasher, capsys=capsys)
    pw1, pw2 = pw1.strip(), pw2.strip()
    # The copy of the shipped ACL already had every line: provisioning added none.
    assert shipped.acl.read_text() == SHIPPED_ACL.read_text()
    shipped.reload()  # the broker rereads the password file
    ca, tls = shipped.certs.ca, shipped.tls_port
    await until_accepted(shipped, tls, "gw-2", pw2)
    assert await wait_login(tls, "gw-1", pw1, ca=ca) == "connected"
    assert "Not authorized" in await wait_login(tls, "gw-1", pw2, ca=ca)
    assert "Not authorized" in await wait_login(tls, "gw-3", pw1, ca=ca)

    async with client(tls, "gw-1", pw1, ca_file=ca) as gw1:
        await gw1.wait_connected(30)
        await gw1.publish(events_topic("gw-1"), batch("gw-1", 1, 1))
        with pytest.raises(PublishFailed, match="Not authorized"):
            await gw1.publish(events_topic("gw-2"), batch("gw-2", 1, 1))


async def test_reprovisioning_replaces_the_password_after_a_reload(
    shipped: ShippedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--passwd", str(shipped.passwd), "--acl", str(shipped.acl))
    old = provision("provision-device", "gw-1", *args, capsys=capsys).strip()
    shipped.reload()
    ca, tls = shipped.certs.ca, shipped.tls_port
    await until_accepted(shipped, tls, "gw-1", old)
    new = provision("provision-device", "gw-1", *args, capsys=capsys).strip()
    assert new != old
    assert sum(ln.startswith("gw-1:") for ln in shipped.passwd.read_text().splitlines()) == 1
    shipped.reload()
    await until_accepted(shipped, tls, "gw-1", new)
    assert "Not authorized" in await wait_login(tls, "gw-1", old, ca=ca)


async def test_collector_login_works_on_the_local_plain_listener_only_with_its_password(
    shipped: ShippedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--passwd", str(shipped.collectors_passwd), "--acl", str(shipped.acl))
    password = provision("provision-collector", *args, capsys=capsys).strip()
    shipped.reload()
    await until_accepted(shipped, shipped.plain_port, COLLECTOR_USER, password)
    assert "Not authorized" in await wait_login(shipped.plain_port, None, None, ca=None)
    assert "Not authorized" in await wait_login(shipped.plain_port, COLLECTOR_USER, "x", ca=None)


async def test_a_device_cannot_take_over_another_devices_client_id(
    shipped: ShippedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    """Device A, with its own password, connecting with B's client id: refused on the plain
    listener (collectors only), renamed to its username over TLS; B stays connected."""
    args = ("--passwd", str(shipped.passwd), "--acl", str(shipped.acl))
    pw_a = provision("provision-device", "gw-a", *args, capsys=capsys).strip()
    pw_b = provision("provision-device", "gw-b", *args, capsys=capsys).strip()
    shipped.reload()
    ca, tls = shipped.certs.ca, shipped.tls_port
    await until_accepted(shipped, tls, "gw-b", pw_b)
    async with client(tls, "gw-b", pw_b, ca_file=ca, client_id="gw-b") as b:
        await b.wait_connected(30)
        for _ in range(3):
            async with client(shipped.plain_port, "gw-a", pw_a, client_id="gw-b") as a:
                assert "Not authorized" in await login_result(a)
            async with client(tls, "gw-a", pw_a, ca_file=ca, client_id="gw-b") as a:
                assert await login_result(a) == "connected"
                await a.publish(events_topic("gw-a"), batch("gw-a", 1, 1))
        # B was never disconnected: its own publish still goes through on the first session.
        await b.publish(events_topic("gw-b"), batch("gw-b", 1, 1))
        assert b.epoch == 1
