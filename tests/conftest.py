"""Fixtures shared by every test layer. Integration tests start their own Mosquitto on a free
loopback port (never the system broker on 1883) and use real SQLite files in tmp_path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.devbroker import LocalBroker

REPO = Path(__file__).resolve().parents[1]


def find_specs() -> Path:
    env = os.environ.get("PES_SPECS_DIR")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "specs", REPO / "specs"]
    for c in candidates:
        if (c / "pes-example-events.jsonl").is_file():
            return c
    raise FileNotFoundError(f"PES specs not found in {[str(c) for c in candidates]}")


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    return find_specs()


@pytest.fixture
async def broker() -> AsyncIterator[LocalBroker]:
    async with LocalBroker() as b:
        yield b
