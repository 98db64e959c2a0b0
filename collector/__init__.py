"""PES collector: MQTT ingest, storage, rollups, PES queries and the HTTP API."""

__version__ = "0.1.0"
