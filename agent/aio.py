"""Small asyncio helpers the agent's loops share."""

from __future__ import annotations

import asyncio


async def wait_any(*events: asyncio.Event, timeout: float | None = None) -> bool:
    """Wait until one of `events` is set (True) or `timeout` seconds pass (False).

    asyncio.Event has no callbacks, so one short-lived waiter task per event; used only on
    rare paths (waiting for a connection, shutdown), never per message."""
    if any(e.is_set() for e in events):
        return True
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.wait(waiters)  # let the cancellations finish: no pending tasks left over
    return bool(done)
