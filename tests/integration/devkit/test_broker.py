"""devkit's private Mosquitto: a port taken by another process between free_port() and
Mosquitto's bind (two pytest-xdist workers) is not mistaken for our broker."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devkit import broker as devbroker
from devkit.broker import LocalBroker
from shared.errors import ConfigError


def test_a_port_taken_in_between_is_left_and_another_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as other:  # another process's listener, on the first port offered
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        offered: Iterator[int] = iter([taken, taken])
        real = devbroker.free_port

        def picked() -> int:
            return next(offered, None) or real()

        monkeypatch.setattr(devbroker, "free_port", picked)
        b = LocalBroker()
        try:
            b.start()
            assert b.port != taken
            assert b.proc is not None and devbroker._listens(b.proc.pid, b.port)
            assert not devbroker._listens(b.proc.pid, taken)  # the other's, not Mosquitto's
            with socket.create_connection(("127.0.0.1", b.port), timeout=2):
                pass
        finally:
            b.cleanup()


def test_a_given_port_that_is_taken_fails_clearly() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        b = LocalBroker(port=other.getsockname()[1])
        try:
            with pytest.raises(ConfigError, match="in use"):
                b.start()
        finally:
            b.cleanup()
