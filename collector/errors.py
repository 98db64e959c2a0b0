"""Collector errors, one root, split by what the caller should do about them:

    PesError (shared.errors)
    └── CollectorError                    anything the collector raises on purpose
        ├── StoreUnavailable  (Retryable) busy, locked or unreachable database: retry later
        ├── StoreError        (Permanent) schema mismatch, constraint bug: retrying won't help
        ├── QueryError        (Permanent) bad query parameters; the message is safe to show
        └── ConfigError       (Permanent) settings that cannot work (also a shared ConfigError)

Catch `RetryableError` to retry and `PermanentError` to give up (both from shared.errors, so the
agent's errors split the same way). Third-party errors (sqlite3, asyncpg) are translated once,
at each storage backend's boundary (`_translate` in storage/sqlite and storage/postgres), and
chained with `from exc`.
"""

from shared.errors import ConfigError as SharedConfigError
from shared.errors import PermanentError, PesError, RetryableError

__all__ = ["CollectorError", "ConfigError", "QueryError", "StoreError", "StoreUnavailable"]


class CollectorError(PesError):
    """Base of every error the collector raises on purpose."""


class StoreUnavailable(CollectorError, RetryableError):
    """The database is busy, locked or unreachable: retry the transaction later."""


class StoreError(CollectorError, PermanentError):
    """A storage failure that retrying will not fix (schema mismatch, constraint bug)."""


class QueryError(CollectorError, PermanentError):
    """A query's parameters are invalid; the message is safe to show to the caller."""


class ConfigError(CollectorError, SharedConfigError):
    """Collector settings that cannot work; the message says which key and why."""
