"""The one place sqlite3 errors become collector errors (retry vs give up), shared by the
store and its write path."""

from __future__ import annotations

import sqlite3

import aiosqlite

from collector.errors import StoreError, StoreUnavailable


async def rollback(db: aiosqlite.Connection) -> None:
    try:
        await db.rollback()
    except sqlite3.Error:
        pass  # the connection is already out of its transaction


def translate(exc: sqlite3.Error) -> Exception:
    """sqlite3 errors as collector errors: StoreUnavailable to retry, StoreError to give up."""
    msg = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and (
        "locked" in msg or "busy" in msg or "disk I/O" in msg or "unable to open" in msg
    ):
        return StoreUnavailable(f"sqlite: {msg}")
    return StoreError(f"sqlite: {msg}")
