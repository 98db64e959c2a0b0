"""Periodic housekeeping inside `pes-collector serve`: raw-event retention. Rollups are kept
for ever, so PES history outlives the raw events it was computed from."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from collector.settings import CollectorSettings
from collector.store import Store
from shared.errors import PesError
from shared.retry import sleep_unless

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 3600.0


async def prune_once(settings: CollectorSettings, store: Store) -> int | None:
    today = datetime.now(settings.pes.tz).date()
    cutoff = today - timedelta(days=settings.storage.retention_days)
    deleted = await store.prune_events(cutoff)
    if deleted:
        log.info("retention: deleted %d raw events before %s", deleted, cutoff)
    return deleted


async def retention_loop(settings: CollectorSettings, store: Store, stop: asyncio.Event) -> None:
    """Prune at start-up, then hourly; a failure is logged and retried next time."""
    while True:
        try:
            await prune_once(settings, store)
        except PesError as exc:
            log.warning("retention failed, will retry: %s", exc)
        if await sleep_unless(stop, RETENTION_INTERVAL_S):
            return
