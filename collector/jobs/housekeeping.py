"""Periodic housekeeping inside `pes-collector serve`: raw-event partitions (PostgreSQL) and
retention. Rollups are kept for ever, so PES history outlives the raw events it was computed
from.

Every collector of a group runs this loop, but each run happens once across the group:
`Store.job` lets one process claim it (PostgreSQL advisory lock, SQLite file lock) and skips it
when another member started it less than half an interval ago."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from collector.settings import CollectorSettings
from collector.storage import Pruned, Store
from shared.errors import PesError
from shared.retry import sleep_unless

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 3600.0
HOUSEKEEPING_JOB = "housekeeping"


async def prune_once(settings: CollectorSettings, store: Store) -> Pruned | None:
    """Make the coming days' partitions, then drop or delete raw events past retention."""
    today = datetime.now(settings.pes.tz).date()
    made = await store.create_partitions(today)
    if made:
        log.info("partitions: made %d day partitions around %s", made, today)
    cutoff = today - timedelta(days=settings.storage.retention_days)
    pruned = await store.prune_events(cutoff)
    if pruned and (pruned.deleted or pruned.dropped_days):
        log.info(
            "retention: dropped %d day partitions and deleted %d raw events before %s",
            pruned.dropped_days, pruned.deleted, cutoff,
        )  # fmt: skip
    return pruned


async def housekeeping_once(settings: CollectorSettings, store: Store) -> Pruned | None:
    """`prune_once` if this collector claims the run; None when another member has it."""
    async with store.job(HOUSEKEEPING_JOB, RETENTION_INTERVAL_S / 2) as mine:
        if not mine:
            return None
        return await prune_once(settings, store)


async def retention_loop(settings: CollectorSettings, store: Store, stop: asyncio.Event) -> None:
    """Housekeeping at start-up, then hourly; a failure is logged and retried next time."""
    while True:
        try:
            await housekeeping_once(settings, store)
        except PesError as exc:
            log.warning("housekeeping failed, will retry: %s", exc)
        if await sleep_unless(stop, RETENTION_INTERVAL_S):
            return
