"""Fixtures shared by every test layer. Integration tests start their own Mosquitto on a free
loopback port (never the system broker on 1883) and use real SQLite files in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.storage import Store, open_store
from devkit.broker import LocalBroker
from tests.kits.pes import PgDatabase, find_specs


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    return find_specs()


@pytest.fixture
async def broker() -> AsyncIterator[LocalBroker]:
    async with LocalBroker() as b:
        yield b


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An open store on each backend: a SQLite file, and a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        async with open_store(f"sqlite:///{tmp_path}/c.db") as s:
            yield s
    else:
        async with PgDatabase() as db, open_store(db.dsn) as s:
            yield s
