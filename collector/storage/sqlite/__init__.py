"""The SQLite backend (aiosqlite, WAL): the embedded default, one writer."""

from collector.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
