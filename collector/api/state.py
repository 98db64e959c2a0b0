"""What every route reads: the settings, the open store and (under `serve`) the ingest loop."""

from __future__ import annotations

from dataclasses import dataclass

from collector.ingest import IngestLoop
from collector.settings import CollectorSettings
from collector.storage import Store


@dataclass
class AppState:
    settings: CollectorSettings
    store: Store
    ingest: IngestLoop | None = None
