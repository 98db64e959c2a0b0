"""Collector errors, split by what the caller should do. Third-party errors (sqlite3, asyncpg)
are translated at the storage boundary (`collector.store`) and chained with `from exc`."""

from shared.errors import ConfigError, PermanentError, PesError, RetryableError

__all__ = ["ConfigError", "QueryError", "StoreError", "StoreUnavailable"]


class StoreError(PesError):
    """A storage failure that retrying will not fix (schema mismatch, constraint bug)."""


class StoreUnavailable(RetryableError):
    """The database is busy, locked or unreachable: retry the transaction later."""


class QueryError(PermanentError):
    """A query's parameters are invalid; the message is safe to show to the caller."""
