"""`pes-collector`: serve, import, report, the analytics commands and provisioning."""

from collector.cli.main import main

__all__ = ["main"]
