"""Fixtures shared by every test layer. Integration tests start their own Mosquitto on a free
loopback port (never the system broker on 1883) and use real SQLite files in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pes_testkit import find_specs

from collector.devbroker import LocalBroker


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    return find_specs()


@pytest.fixture
async def broker() -> AsyncIterator[LocalBroker]:
    async with LocalBroker() as b:
        yield b
