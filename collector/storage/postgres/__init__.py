"""The PostgreSQL backend (asyncpg): several collectors sharing one database, raw events
partitioned by day."""

from collector.storage.postgres.store import PgStore

__all__ = ["PgStore"]
