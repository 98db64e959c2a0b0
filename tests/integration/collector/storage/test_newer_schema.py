"""A store whose schema is newer than this collector is refused with a clear error, and the
refusal closes what it opened: the SQLite connections were left open (a ResourceWarning, an
error under this suite's warnings-as-errors, and a thread per connection left running)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from collector.errors import StoreError
from collector.storage import open_store
from collector.storage.sqlite.schema import MIGRATIONS


async def test_a_newer_schema_is_refused_clearly_and_closes_its_connections(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer than this collector"):
        async with open_store(f"sqlite:///{path}"):
            pass
