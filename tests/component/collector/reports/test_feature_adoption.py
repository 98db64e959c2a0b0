"""Adoption per core feature as the Overview's chart reads it (`GET /v1/overview?table=features`):
each feature's share is taken among the active entities whose core set holds it (`eligible`), so
a device type without that feature does not dilute it. Hand-computed on a tiny fleet served by
a fake store, for devices, for accounts owning both types, and per device type."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from collector.reports import tables as aq
from collector.reports.query import make_query
from collector.settings import PesSettings
from collector.storage.bitmaps import Changes, ComboRow, Cursor, FeatureNameRow
from tests.kits.analytics import Event, analytics_rows

SETTINGS = PesSettings(
    core_features={"press-x": ["calibrate", "export"], "lathe-9": ["jog", "spindle"]}
)
START, END = date(2026, 2, 1), date(2026, 2, 21)


def event(device: str, account: str, dtype: str, day: int, feature: str | None = None) -> Event:
    return {"id": f"{device}-{day}-{feature}", "device_id": device, "account_id": account,
            "device_type": dtype, "firmware_version": "1.0",
            "kind": "feature_use" if feature else "session_start", "feature": feature,
            "ts": f"2026-02-{day:02d}T10:00:00Z"}  # fmt: skip


# p1, p2: press-x; l1, l2: lathe-9. l1 also reports `calibrate`, which is not in its core set.
# Accounts: a owns p1 and l1, b owns p2, c owns l2.
EVENTS = [
    event("p1", "a", "press-x", 5, "calibrate"),
    event("p2", "b", "press-x", 6),
    event("l1", "a", "lathe-9", 7, "jog"),
    event("l1", "a", "lathe-9", 7, "calibrate"),
    event("l2", "c", "lathe-9", 8, "spindle"),
]


class OneVersionStore:
    """The analytics tables of EVENTS, all at once."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.combos, self.features, self.changes = analytics_rows(events)

    async def analytics_changes(self, cursor: Cursor) -> Changes:
        if cursor == self.changes.cursor:
            return Changes([], [], cursor)
        return self.changes

    async def analytics_names(
        self, combos: Sequence[int], features: Sequence[int]
    ) -> tuple[list[ComboRow], list[FeatureNameRow]]:
        return [c for c in self.combos if c[0] in combos], [
            f for f in self.features if f[0] in features
        ]


async def features(entity: str, group_by: str) -> dict[tuple[str | None, str], tuple[int, int]]:
    q = make_query(SETTINGS, start=START, end=END, group_by=group_by, entity=entity)
    store: Any = OneVersionStore(EVENTS)
    rows = (await aq.overview_tables(store, SETTINGS, q, "week"))["features"]
    assert all(r["adoption"] == r["users"] / r["eligible"] for r in rows)
    return {(r.get("device_type"), r["feature"]): (r["users"], r["eligible"]) for r in rows}


async def test_devices_count_only_types_whose_core_set_holds_the_feature() -> None:
    # calibrate: p1 of {p1, p2} (l1's use does not count: lathe-9 has no calibrate); jog: l1 of
    # {l1, l2}. Every active device would give 2 of 4 and 1 of 4.
    assert await features("device", "") == {
        (None, "calibrate"): (1, 2),
        (None, "export"): (0, 2),
        (None, "jog"): (1, 2),
        (None, "spindle"): (1, 2),
    }


async def test_accounts_hold_the_core_sets_of_all_their_device_types() -> None:
    # a (press-x and lathe-9) used calibrate and jog; b (press-x) nothing; c (lathe-9) spindle.
    assert await features("account", "") == {
        (None, "calibrate"): (1, 2),
        (None, "export"): (0, 2),
        (None, "jog"): (1, 2),
        (None, "spindle"): (1, 2),
    }


async def test_a_segment_lists_only_the_features_of_its_types() -> None:
    assert await features("device", "device_type") == {
        ("press-x", "calibrate"): (1, 2),
        ("press-x", "export"): (0, 2),
        ("lathe-9", "jog"): (1, 2),
        ("lathe-9", "spindle"): (1, 2),
    }
