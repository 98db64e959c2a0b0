"""Firmware runs and transitions: the pure functions live in collector.storage.runs, because
ingest keeps the runs up to date inside its write transaction (storage/plan.py) and storage sits
below analytics. Re-exported here for the release engine and its tests."""

from collector.storage.runs import (
    FwEvent,
    Key,
    Run,
    Stamp,
    Transition,
    apply_event,
    runs_from_events,
    transition_changes,
    transitions,
    transitions_of,
)

__all__ = [
    "FwEvent",
    "Key",
    "Run",
    "Stamp",
    "Transition",
    "apply_event",
    "runs_from_events",
    "transition_changes",
    "transitions",
    "transitions_of",
]
