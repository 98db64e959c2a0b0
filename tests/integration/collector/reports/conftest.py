"""The store URL fixture of the reports' integration tests: each test runs on SQLite and on
PostgreSQL (a database of its own, dropped after)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.kits.pes import PgDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/c.db"
    else:
        async with PgDatabase() as db:
            yield db.dsn
