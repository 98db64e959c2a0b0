"""The growth suite's store (bench/growth.py), shared with bench/release_restart.py, which runs
on stores filled the same way: the history's length, the firmware runs written after the fill,
and the release report the growth figures time."""

from __future__ import annotations

from datetime import timedelta

from bench.query import END, SETTINGS
from collector.reports.releases import ReleaseQuery, make_release_query

DAYS = 14
RELEASE_DAYS = 10
# Firmware runs of the filled history (bench.query.fleet_events: a device runs its first
# firmware, then maybe 2.1 from its upgrade day on): one run per (device, type, firmware), from
# the first day's midnight to the last day's end in Unix ms, as ingest's runs are, so that
# later writes (bench.pes_warm's late uses) fall inside them.
RUNS = (
    "INSERT INTO firmware_runs SELECT device_id, device_type, firmware_version, "
    "(min(o) - 719163) * 86400000, 'a', min(o), (max(o) - 719162) * 86400000 - 1, 'z', max(o), 1 "
    "FROM (SELECT *, CAST(julianday(day) - 1721424.5 AS INTEGER) AS o FROM activity_day) "
    "GROUP BY device_id, device_type, firmware_version"
)


def release_query() -> ReleaseQuery:
    """The report `growth_releases_*` times: the history's last RELEASE_DAYS days, W = 5."""
    return make_release_query(SETTINGS, start=END - timedelta(days=RELEASE_DAYS - 1), end=END,
                              window=5, as_of=END, today=END)  # fmt: skip


def default_query() -> ReleaseQuery:
    """The default report on the history's last day (90 days, W = 14): what `serve`'s warm-up
    measures (reports/releases.py warm_up_releases), so what its release file keeps."""
    return make_release_query(SETTINGS, today=END)
