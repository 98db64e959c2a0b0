"""`serve`'s warm-up: what the first requests after a start need, built before they come (seconds
at a million devices: docs/scaling.md, "Restarts"), so the first user's query does not pay for
it. Its own module because it joins tables (PES) and releases, and releases imports tables."""

from __future__ import annotations

from datetime import date

from collector.reports.releases import warm_up_releases
from collector.reports.tables import warm_up_pes
from collector.settings import PesSettings
from collector.storage import Store


async def warm_up(store: Store, settings: PesSettings, today: date | None = None) -> None:
    """The analytics state and the default PES table first (the dashboard's first page and the
    /metrics gauges), then the default release report's Fleet and measurement, which reuse that
    state's snapshot (reports/releases.py)."""
    await warm_up_pes(store, settings)
    await warm_up_releases(store, settings, today)
