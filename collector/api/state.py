"""What every route reads: the settings, the open store, (under `serve`) the ingest loop, the
process's role and its analytics warm-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from collector.ingest import IngestLoop
from collector.settings import CollectorSettings, Role
from collector.storage import Store


@dataclass
class AppState:
    settings: CollectorSettings
    store: Store
    ingest: IngestLoop | None = None
    role: Role = "all"
    # `serve`'s start-up build of the analytics state (reports.warm_up); None: none runs
    warming: asyncio.Task[None] | None = None

    @property
    def reads(self) -> bool:
        """Serves the analytics, fleet and dashboard routes."""
        return self.role != "ingest"

    @property
    def writes(self) -> bool:
        """Serves the routes that write (POST /v1/outcomes)."""
        return self.role != "api"
