"""The one place asyncpg errors become collector errors (retry vs give up), shared by the
store and its write path."""

from __future__ import annotations

import asyncpg

from collector.errors import StoreError, StoreUnavailable

RETRYABLE_SQLSTATES = {"40001", "40P01", "53300", "57P01", "57P02", "57P03", "08000", "08003",
                        "08006", "08001", "08004"}  # fmt: skip


def translate(exc: BaseException) -> Exception:
    """The one place asyncpg errors become collector errors (retry vs give up)."""
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return StoreUnavailable(f"postgresql: {exc}")
    state = getattr(exc, "sqlstate", None)
    if state in RETRYABLE_SQLSTATES:
        return StoreUnavailable(f"postgresql: {exc}")
    return StoreError(f"postgresql: {exc}")
