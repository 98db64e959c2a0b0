"""What a persisted copy of the analytics state (collector/reports/snapshots.py) is checked
against before it is trusted: `Store.analytics_mark`.

A copy holds the bitmap rows as of a cursor. It is only valid for the database it was read
from, under the same schema, while that database still holds every row the copy read with the
same value. The mark answers those questions cheaply (indexed maxima and a few primary-key
lookups), so a restart can refuse a foreign, stale or restored copy instead of answering from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.storage.bitmaps import Cursor

# A sampled activity row: (combo, block, bits, version)
ProbeRow = tuple[int, int, int, int]
ProbeKey = tuple[int, int]  # (combo, block)


@dataclass(frozen=True, slots=True)
class AnalyticsMark:
    """The store as it is now, for checking a persisted analytics state against."""

    identity: str  # which database: SQLite "sqlite" (the file is where the copy lives);
    # PostgreSQL the cluster's system identifier and the database's oid
    schema: int  # migrations applied
    newest: Cursor  # no cursor the store handed out can be beyond this (elementwise)
    combos: int  # highest combination id (0: none)
    features: int  # highest feature id
    # How a cursor relates to versions: SQLite reads `version > cursor` (so a row with
    # version <= cursor was read), PostgreSQL `version >= cursor` (read if version < cursor).
    read_at_cursor: bool
    probe: tuple[ProbeRow, ...] = ()  # the asked-for activity rows that exist
    # No firmware-run cursor the store handed out can be beyond this (Store.firmware_runs):
    # SQLite the newest run version, PostgreSQL the xmin a read would take now.
    runs: int = 0

    def was_read(self, version: int, cursor: int) -> bool:
        """Whether a row of this version had been read by a state at `cursor`: its value is
        then the one that state holds, unless it changed (and got a newer version) since."""
        return version <= cursor if self.read_at_cursor else version < cursor
