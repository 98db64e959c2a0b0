"""PES collector: MQTT ingest, storage, rollups, the PES engine, reports, the HTTP API and CLI.

Packages, in the direction imports run (a package imports only those before it):
errors, records -> settings, storage -> ingest, analytics -> reports -> jobs -> api -> cli.
docs/architecture.md is the map.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
