"""Reading an export back with a second engine: DuckDB views over the Parquet files, one per
table, so a test's queries name tables and never paths."""

from __future__ import annotations

from pathlib import Path

import duckdb

from collector.export import TABLES


def warehouse(out: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per exported table (`day` from the partition folders)
    and `streams_now` for the stream snapshot."""
    con = duckdb.connect()
    for table in TABLES:
        files = f"{out}/{table}/day=*/*.parquet".replace("'", "''")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM "  # noqa: S608 - a table name of ours
            f"read_parquet('{files}', hive_partitioning = true)"
        )
    snap = f"{out}/current/streams.parquet".replace("'", "''")
    con.execute(f"CREATE VIEW streams_now AS SELECT * FROM read_parquet('{snap}')")  # noqa: S608 - our own path
    return con
