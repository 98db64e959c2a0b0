"""PostgreSQL raw events partitioned by day: which partitions to create, which to drop.

`events` is `PARTITION BY RANGE (day)` with one partition per day (`events_p20260314`), made a
few days ahead by the housekeeping job, and a DEFAULT partition that takes any other day (late
backfills, imports of old history, a clock far off) so an insert never fails. Retention drops
whole partitions before the cutoff (no DELETE, no vacuum, no bloat) and DELETEs only from the
partitions that straddle it: the DEFAULT one and, after an upgrade, `events_legacy` (the old
table attached as one partition for its whole day range by migration 3).

The planning is pure functions; the async functions run them on a connection. Callers hold the
housekeeping job's lock (one collector of the group at a time).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.storage.postgres.schema import Conn

DEFAULT_PARTITION = "events_default"
# Days made before they are needed (time-zone skew, clocks slightly ahead) and the one behind.
DAYS_AHEAD = 3
DAYS_BEHIND = 1
# DDL waits at most this long for ingest's locks, then gives up until the next run: a waiting
# ACCESS EXCLUSIVE request would queue every insert behind it.
LOCK_TIMEOUT = "5s"
_BOUND = re.compile(r"FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    first: date | None  # None for the DEFAULT partition
    end: date | None  # exclusive


@dataclass(frozen=True, slots=True)
class PrunePlan:
    drop: list[str]  # wholly before the cutoff
    trim: list[str]  # straddle it: DELETE their rows before the cutoff


def partition_name(day: date) -> str:
    return f"events_p{day:%Y%m%d}"


def parse_bound(name: str, expr: str) -> Partition:
    """From `pg_get_expr(relpartbound)`: "DEFAULT" or "FOR VALUES FROM ('d1') TO ('d2')"."""
    m = _BOUND.fullmatch(expr.strip())
    if m is None:
        return Partition(name, None, None)
    return Partition(name, date.fromisoformat(m[1]), date.fromisoformat(m[2]))


def days_to_create(existing: Sequence[Partition], today: date) -> list[date]:
    """Days from DAYS_BEHIND before `today` to DAYS_AHEAD after it not covered by a partition."""
    wanted = [today + timedelta(days=d) for d in range(-DAYS_BEHIND, DAYS_AHEAD + 1)]
    ranges = [(p.first, p.end) for p in existing if p.first is not None and p.end is not None]
    return [d for d in wanted if not any(lo <= d < hi for lo, hi in ranges)]


def plan_prune(existing: Sequence[Partition], before: date) -> PrunePlan:
    drop = [p.name for p in existing if p.end is not None and p.end <= before]
    trim = [
        p.name for p in existing if p.first is None or (p.first < before and p.end is not None
                                                          and p.end > before)
    ]  # fmt: skip
    return PrunePlan(sorted(drop), sorted(trim))


async def partitions(con: Conn) -> list[Partition]:
    rows = await con.fetch(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"
    )
    return [parse_bound(r[0], r[1]) for r in rows]


async def create_partitions(con: Conn, today: date) -> list[str]:
    """Make the missing day partitions around `today`, each in its own short transaction.

    Rows of that day already in the DEFAULT partition (written before the partition existed)
    are moved into it first: PostgreSQL refuses to attach a partition whose rows the DEFAULT
    partition holds. The DEFAULT partition is locked meanwhile so none arrive in between."""
    made: list[str] = []
    for day in days_to_create(await partitions(con), today):
        name, end = partition_name(day), day + timedelta(days=1)
        async with con.transaction():
            await con.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await con.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
            # Names and dates come from date objects formatted here, never from input.
            await con.execute(
                f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS); "  # noqa: S608
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
                f"WHERE day >= '{day}' AND day < '{end}' RETURNING *) "
                f"INSERT INTO {name} SELECT * FROM moved; "
                f"ALTER TABLE events ATTACH PARTITION {name} "
                f"FOR VALUES FROM ('{day}') TO ('{end}')"
            )
        made.append(name)
    return made


async def prune(con: Conn, before: date) -> tuple[int, int]:
    """Drop the partitions before `before`, trim the straddling ones: (rows deleted, dropped).
    A dropped partition's rows are not counted: counting would scan a whole day."""
    plan = plan_prune(await partitions(con), before)
    deleted = 0
    async with con.transaction():
        await con.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for name in plan.drop:
            await con.execute(f"DROP TABLE {name}")
        for name in plan.trim:
            status = await con.execute(f"DELETE FROM {name} WHERE day < $1", before)  # noqa: S608
            deleted += int(status.split()[-1])
    return deleted, len(plan.drop)
