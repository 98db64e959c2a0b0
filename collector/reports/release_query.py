"""Release report parameters (specs/releases.md): parsed and checked once for the API and the CLI,
and the report's rows as CSV. The rows themselves: reports/releases.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from collector.analytics.releases import METRICS, ReleaseParams, ReleaseRow
from collector.errors import QueryError
from collector.reports.query import EARLIEST, LATEST, MAX_PERIOD_DAYS
from collector.settings import PesSettings

MAX_WINDOW = 60
DEFAULT_DAYS = 90  # a report covers the last 90 days by default
RESAMPLES = 1000
ROW_KEYS = (
    "device_type", "from", "to", "metric", "transitions", "measurable", "pending", "confounded",
    "inactive", "no_control", "pre_mean", "post_mean", "change", "change_ci", "control_change",
    "did", "did_ci", "significant", "significant_holm",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReleaseQuery:
    start: date
    end: date
    as_of: date
    window: int
    device_type: str | None = None
    metric: str | None = None

    def params(self, settings: PesSettings) -> ReleaseParams:
        try:
            return ReleaseParams(
                self.start, self.end, self.as_of, self.window,
                core_features=settings.core_features, resamples=RESAMPLES,
                device_type=self.device_type, metric=self.metric,
            )  # fmt: skip
        except ValueError as exc:
            raise QueryError(str(exc)) from exc


def make_release_query(
    settings: PesSettings,
    *,
    start: date | None = None,
    end: date | None = None,
    window: int | None = None,
    as_of: date | None = None,
    device_type: str | None = None,
    metric: str | None = None,
    today: date | None = None,
) -> ReleaseQuery:
    """Defaults from releases.md: the last 90 days ending today, as_of yesterday, W = 14."""
    today = today or datetime.now(settings.tz).date()
    w = 14 if window is None else window
    if not 1 <= w <= MAX_WINDOW:
        raise QueryError(f"window must be 1 to {MAX_WINDOW} days")
    # Checked before any date arithmetic: windows and defaults reach W days (and 90) out.
    lo, hi = EARLIEST + timedelta(days=DEFAULT_DAYS), LATEST - timedelta(days=DEFAULT_DAYS)
    if not all(lo <= d <= hi for d in (start, end, as_of, today) if d is not None):
        raise QueryError(f"dates must lie between {lo} and {hi}")
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    as_of = as_of or today - timedelta(days=1)
    if start > end:
        raise QueryError("start must not be after end")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise QueryError(f"a period is at most {MAX_PERIOD_DAYS} days")
    if metric is not None and metric not in METRICS:
        raise QueryError(f"metric must be one of {', '.join(METRICS)}")
    if device_type is not None and ("\x00" in device_type or not device_type):
        raise QueryError("device_type must be a non-empty name without NUL")
    q = ReleaseQuery(start, end, as_of, w, device_type, metric)
    q.params(settings)
    return q


def parse_day(text: str | None, name: str) -> date | None:
    """An ISO date from a command line or query string (None stays None)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name} must be a date (YYYY-MM-DD), not {text[:40]!r}") from None


def parse_window(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise QueryError(f"window must be a whole number of days, not {text[:40]!r}") from None


def release_csv_rows(rows: Sequence[ReleaseRow]) -> list[dict[str, Any]]:
    """Rows for CSV and text tables: intervals as `lo;hi`."""
    out = []
    for r in rows:
        flat: dict[str, Any] = dict(r)
        flat["change_ci"], flat["did_ci"] = _interval(r["change_ci"]), _interval(r["did_ci"])
        out.append(flat)
    return out


def _interval(ci: list[float] | None) -> str | None:
    return None if ci is None else f"{ci[0]:.6g};{ci[1]:.6g}"


def release_csv(rows: Sequence[ReleaseRow]) -> str:
    """CSV with the contract's columns (a header even without rows); intervals as `lo;hi`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ROW_KEYS)
    for r in release_csv_rows(rows):
        w.writerow(["" if r[k] is None else r[k] for k in ROW_KEYS])
    return buf.getvalue()
