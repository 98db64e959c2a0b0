"""A private Mosquitto for the demo and the tests: its own config, a free loopback port, a temp dir.

Never touches a system broker. `LocalBroker` is an async context manager; `start_broker` /
`stop` are the synchronous core, so a test can kill -9 and restart the same broker on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from collector.cli.provision import hash_password
from shared.errors import ConfigError

# Stock limits drop QoS 1 messages for a subscriber that falls behind (docs/wire.md): raise them.
BASE_CONFIG = """\
per_listener_settings false
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 100
max_packet_size 2097152
log_dest stderr
log_type error
log_type warning
"""


PORT_ATTEMPTS = 5


class _PortTaken(ConfigError):
    """The port is bound by another process (for a picked port: taken before Mosquitto could
    bind it)."""


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a listening TCP socket on `port` (Linux /proc: the socket
    inodes of its descriptors against the listening sockets of /proc/net/tcp)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)  # the header
            for line in f:
                cols = line.split()
                # local address (hex ip:port), state 0A = LISTEN, inode
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    if cols[9] in inodes:
                        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ConfigError("mosquitto not found: install it (Debian: apt-get install mosquitto)")


@dataclass(frozen=True, slots=True)
class BrokerSecurity:
    """Logins as in deploy/mosquitto: no anonymous access, a password file written from `users`
    (username -> password) into the broker's temp dir, an ACL file used in place (None: any
    login may use any topic) and, with all three tls_* files, a TLS listener on `tls_port`
    that replaces the client id by the username (as on the deploy config's port 8883)."""

    users: Mapping[str, str]
    acl_file: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None


class LocalBroker:
    def __init__(
        self,
        port: int | None = None,
        extra_config: str = "",
        *,
        security: BrokerSecurity | None = None,
    ) -> None:
        self.port = port or 0
        self.extra_config = extra_config
        self.security = security
        self.tls_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def dir(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name)

    def start(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="pes-broker-")
        if self.port:  # a given port (a restart on the same port): no other to try
            self._start_once()
            return
        # free_port() closes its probe socket before Mosquitto binds: another process (a test
        # on the other pytest-xdist worker) may take the port in between. Then try another.
        taken: _PortTaken | None = None
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self._start_once()
                return
            except _PortTaken as exc:
                taken = exc
        raise ConfigError(f"mosquitto found no free port in {PORT_ATTEMPTS} tries") from taken

    def _start_once(self) -> None:
        conf = self.dir / "mosquitto.conf"
        logged = self.dir / "mosquitto.log"
        start = logged.stat().st_size if logged.exists() else 0  # this attempt's lines only
        base, tls = (BASE_CONFIG, "") if self.security is None else self._secure_config()
        conf.write_text(f"listener {self.port} 127.0.0.1\n{base}{self.extra_config}\n{tls}")
        with logged.open("ab") as log:  # the child keeps its own fd
            self.proc = subprocess.Popen(
                [find_mosquitto(), "-c", str(conf)], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with logged.open("rb") as f:
                    f.seek(start)
                    text = f.read().decode(errors="replace")[-500:]
                if "Address already in use" in text:
                    self.proc = None
                    raise _PortTaken(f"mosquitto could not bind port {self.port}: in use")
                raise ConfigError(f"mosquitto exited: {text}")
            # A listener on the port is not enough: it may be another process's (the race
            # above). Only our Mosquitto's own listening socket counts.
            if _listens(self.proc.pid, self.port):
                return
            time.sleep(0.05)
        raise ConfigError(f"mosquitto did not listen on {self.port}")

    def _secure_config(self) -> tuple[str, str]:
        sec = self.security
        assert sec is not None
        passwd = self.dir / "passwd"
        passwd.write_text("".join(f"{u}:{hash_password(p)}\n" for u, p in sec.users.items()))
        base = BASE_CONFIG.replace("allow_anonymous true", "allow_anonymous false")
        base += f"password_file {passwd}\n"
        if sec.acl_file is not None:
            base += f"acl_file {sec.acl_file}\n"
        private = [self.dir, passwd]
        tls = ""
        if sec.tls_ca and sec.tls_cert and sec.tls_key:
            self.tls_port = self.tls_port or free_port()
            tls = f"listener {self.tls_port} 127.0.0.1\nuse_username_as_clientid true\n"
            for key, src in (
                ("cafile", sec.tls_ca),
                ("certfile", sec.tls_cert),
                ("keyfile", sec.tls_key),
            ):
                dst = self.dir / f"tls-{key}.pem"
                shutil.copyfile(src, dst)
                private.append(dst)
                tls += f"{key} {dst}\n"
        # Started as root, Mosquitto drops to the mosquitto user before it reads these files.
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError):
                user = pwd.getpwnam("mosquitto")
                for path in private:
                    os.chown(path, user.pw_uid, user.pw_gid)
        return base, tls

    def stop(self, *, kill: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log_text(self) -> str:
        p = self.dir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def __aenter__(self) -> LocalBroker:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.cleanup)
