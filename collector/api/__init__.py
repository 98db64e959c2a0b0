"""The HTTP API and the dashboard: `create_app(AppState(settings, store, ingest))`."""

from collector.api.app import create_app
from collector.api.schemas import PesRow
from collector.api.state import AppState

__all__ = ["AppState", "PesRow", "create_app"]
