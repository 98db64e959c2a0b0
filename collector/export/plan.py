"""Which (table, day) partitions an export run writes: pure, from the store's day marks and the
manifest of the previous runs.

A partition is written when its fingerprint differs from the one recorded when it was last
written, so a second run writes only new days, and a day that received late events is written
again (its file replaced, never appended). Fingerprints:

- events, streams: the raw events held for the day. A day whose raw events retention has
  pruned (held 0, exported before) keeps its files: the warehouse outlives the collector's
  retention.
- activity_day, feature_day, session_day: the day's activity events (the rollups change only
  with those).
- pes: the options and the activity of every day the PES of that day reads (P, P' and the
  30-day reach-back of MAU, specs/pes.md), so a late event re-exports the PES of the later days
  whose window holds it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from collector.export.errors import ManifestError
from collector.storage import DayMark

TableName = Literal["events", "activity_day", "feature_day", "session_day", "streams", "pes"]
TABLES: tuple[TableName, ...] = (
    "events", "activity_day", "feature_day", "session_day", "streams", "pes"
)  # fmt: skip
MANIFEST_VERSION = 1
MAU_REACH = 29  # MAU(d) looks at [d - 29, d]


@dataclass(frozen=True, slots=True)
class Written:
    fingerprint: str
    rows: int


@dataclass
class Manifest:
    """What earlier runs wrote: per table and day, the fingerprint and row count."""

    tables: dict[str, dict[str, Written]] = field(default_factory=dict)

    def get(self, table: TableName, day: str) -> Written | None:
        return self.tables.get(table, {}).get(day)

    def put(self, table: TableName, day: str, written: Written) -> None:
        self.tables.setdefault(table, {})[day] = written

    def to_json(self) -> str:
        tables = {
            t: {d: {"fingerprint": w.fingerprint, "rows": w.rows} for d, w in sorted(days.items())}
            for t, days in sorted(self.tables.items())
        }
        # One line: `indent` would take json's pure-Python encoder, and the manifest is written
        # after every day (its size grows with the days exported).
        doc = {"version": MANIFEST_VERSION, "tables": tables}
        return json.dumps(doc, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
                raise ValueError(f"not a version {MANIFEST_VERSION} export manifest")
            tables = {
                str(t): {
                    str(d): Written(str(w["fingerprint"]), int(w["rows"])) for d, w in days.items()
                }
                for t, days in doc["tables"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"unreadable export manifest: {exc}") from exc
        return cls(tables)


@dataclass(frozen=True, slots=True)
class Task:
    table: TableName
    day: date
    fingerprint: str


def pes_reach(pes_days: int) -> int:
    """How many days before `end` the PES of a period of `pes_days` days ending there reads:
    P' starts 2L - 1 days before, MAU of P's first day reaches 29 days before it."""
    return max(2 * pes_days - 1, pes_days - 1 + MAU_REACH)


def plan(
    marks: Sequence[DayMark],
    manifest: Manifest,
    start: date,
    end: date,
    options: Mapping[str, Any],
    pes_days: int,
) -> list[Task]:
    """The partitions to write for the days of [start, end] holding data, in day order.
    `marks` must cover [start - pes_reach(pes_days), end]."""
    by_day = {date.fromisoformat(d): (events, activity) for d, events, activity in marks}
    tasks: list[Task] = []
    reach = pes_reach(pes_days)
    opts = json.dumps(dict(options), sort_keys=True)
    for day in sorted(d for d in by_day if start <= d <= end):
        events, activity = by_day[day]
        key = day.isoformat()
        window = [
            f"{d}:{by_day[d][1]}"
            for d in sorted(by_day)
            if day - timedelta(days=reach) <= d <= day and by_day[d][1]
        ]
        prints: dict[TableName, str | None] = {
            "events": f"events:{events}" if events else None,
            "streams": f"events:{events}" if events else None,
            "activity_day": f"activity:{activity}" if activity else None,
            "feature_day": f"activity:{activity}" if activity else None,
            "session_day": f"activity:{activity}" if activity else None,
            "pes": _digest(opts, *window) if window else None,
        }
        for table in TABLES:
            fp = prints[table]
            if fp is None:  # nothing held (or pruned): keep what was written, if anything
                continue
            done = manifest.get(table, key)
            if done is None or done.fingerprint != fp:
                tasks.append(Task(table, day, fp))
    return tasks


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
