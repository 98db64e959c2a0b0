"""What every route reads: the settings, the open store, (under `serve`) the ingest loop, and the
process's role."""

from __future__ import annotations

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

    @property
    def reads(self) -> bool:
        """Serves the analytics, fleet and dashboard routes."""
        return self.role != "ingest"

    @property
    def writes(self) -> bool:
        """Serves the routes that write (POST /v1/outcomes)."""
        return self.role != "api"
