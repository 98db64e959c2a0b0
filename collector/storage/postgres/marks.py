"""`PgStore.analytics_mark` (see collector/storage/marks.py)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from collector.storage.marks import AnalyticsMark, ProbeKey

_MARK = (
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database())::bigint, "
    "(SELECT coalesce(max(version), 0) FROM schema_version), "
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
    "(SELECT coalesce(max(id), 0) FROM analytics_combo), "
    "(SELECT coalesce(max(id), 0) FROM analytics_feature)"
)
_PROBE = (
    "SELECT a.combo, a.block, a.bits, a.version FROM activity_bits a "
    "JOIN unnest($1::integer[], $2::integer[]) AS k(combo, block) "
    "ON a.combo = k.combo AND a.block = k.block"
)


async def analytics_mark(pool: asyncpg.Pool, probe: Sequence[ProbeKey]) -> AnalyticsMark:
    """The database's identity (a dropped and recreated database gets a new oid; another
    cluster another system identifier), the xmin a read would take now (cursors are xmins and
    only grow within a cluster) and the probed rows by primary key."""
    async with pool.acquire() as con:
        try:
            system = str(await con.fetchval("SELECT system_identifier FROM pg_control_system()"))
        except asyncpg.InsufficientPrivilegeError:
            # Without pg_monitor the cluster stays unnamed; the oid, the cursor bound and the
            # probed rows still tell databases apart (collector/reports/snapshots.py).
            system = "?"
        row = await con.fetchrow(_MARK)
        rows = []
        if probe:
            combos, blocks = [k[0] for k in probe], [k[1] for k in probe]
            rows = await con.fetch(_PROBE, combos, blocks)
    if row is None:  # a SELECT without FROM returns one row
        raise RuntimeError("no row from the analytics mark query")
    return AnalyticsMark(
        identity=f"postgresql:{system}:{row[0]}",
        schema=int(row[1]),
        newest=(int(row[2]), int(row[2])),
        combos=int(row[3]),
        features=int(row[4]),
        read_at_cursor=False,
        probe=tuple((int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows),
        runs=int(row[2]),  # run cursors are xmins too
    )
