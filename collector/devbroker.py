"""A private Mosquitto for the demo and the tests: its own config, a free loopback port, a temp dir.

Never touches a system broker. `LocalBroker` is an async context manager; `start_broker` /
`stop` are the synchronous core, so a test can kill -9 and restart the same broker on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ConfigError("mosquitto not found: install it (Debian: apt-get install mosquitto)")


class LocalBroker:
    def __init__(self, port: int | None = None, extra_config: str = "") -> None:
        self.port = port or 0
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def dir(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name)

    def start(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="pes-broker-")
        if not self.port:
            self.port = free_port()
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\n{BASE_CONFIG}{self.extra_config}\n")
        with (self.dir / "mosquitto.log").open("ab") as log:  # the child keeps its own fd
            self.proc = subprocess.Popen(
                [find_mosquitto(), "-c", str(conf)], stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"mosquitto exited: {self.log_text()[-500:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise ConfigError(f"mosquitto did not listen on {self.port}")

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
