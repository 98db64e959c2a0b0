"""`open_store(url)`: the one place a storage URL picks a backend. The backend modules are
imported only when chosen, so a SQLite deployment never loads asyncpg."""

from __future__ import annotations

from collector.errors import ConfigError
from collector.storage.base import Store


def sqlite_path(url: str) -> str:
    """File-URI style: sqlite:///var/lib/pes/c.db is /var/lib/pes/c.db (as in file:///...), and
    four slashes mean the same; sqlite:data/c.db is relative to the working directory."""
    rest = url.removeprefix("sqlite:")
    if rest.startswith("//"):
        rest = "/" + rest.lstrip("/")
    if not rest or rest in ("/", "/:memory:", ":memory:"):
        return ":memory:"
    return rest


def open_store(url: str, *, create: bool = True) -> Store:
    """A store for `url` (not yet opened: use `async with`). `create=False` is for commands
    and processes that only read: a SQLite file that does not exist is then a ConfigError on
    opening, instead of a new empty store; a PostgreSQL database (never created here) is not
    migrated but must already hold the current schema, so a read replica works."""
    if url.startswith("sqlite:"):
        from collector.storage.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), create=create)
    if url.startswith(("postgresql://", "postgres://")):
        from collector.storage.postgres import PgStore

        return PgStore(url, migrate=create)
    raise ConfigError(f"unsupported storage url {url!r}: use sqlite: or postgresql://")
