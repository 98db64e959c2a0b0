"""The finished tables of one analytics snapshot, by query: a dashboard polls the same PES table
every few seconds, from every open page, and between two commits the answer cannot change, so
the second and later polls cost a dict lookup instead of a computation (docs/performance.md).

Only the newest snapshot's answers are kept (a snapshot pins its arrays in memory), and at most
MAX_ANSWERS of them."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final

from collector.analytics.state import Snapshot

MAX_ANSWERS: Final = 64
Rows = list[dict[str, Any]]


class Answers:
    """Rows per (query key, settings object) computed from `snapshot`. A hit is a new list of
    the same row dicts, which callers must not change (sorting the list is fine)."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self._rows: dict[Hashable, tuple[object, Rows]] = {}

    def get(self, snapshot: Snapshot, key: Hashable, settings: object) -> Rows | None:
        if snapshot is not self.snapshot:
            return None
        hit = self._rows.get(key)
        # The settings object is part of the answer (weights, core features, thresholds): the
        # same query under other settings (a test, the CLI) is another table.
        if hit is None or hit[0] is not settings:
            return None
        return list(hit[1])

    def put(self, snapshot: Snapshot, key: Hashable, settings: object, rows: Rows) -> None:
        if snapshot is not self.snapshot:  # a newer snapshot: the old answers are all stale
            self.snapshot = snapshot
            self._rows.clear()
        elif len(self._rows) >= MAX_ANSWERS and key not in self._rows:
            del self._rows[next(iter(self._rows))]  # the oldest
        self._rows[key] = (settings, list(rows))
