"""The wire contract between the PES agent and the PES collector (see docs/wire.md)."""

SCHEMA_VERSION = 1
