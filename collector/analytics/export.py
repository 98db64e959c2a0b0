"""Rows (lists of flat-ish dicts) as CSV or as a plain-text table: shared by the API and CLI so
that `--format csv` and `?format=csv` give the same bytes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """One level: {"feature_adoption": {"x": 0.5}} -> {"feature_adoption.x": 0.5}; lists and
    deeper values become JSON text."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict) and all(not isinstance(x, dict | list) for x in v.values()):
            out.update({f"{k}.{sk}": sv for sk, sv in v.items()})
        elif isinstance(v, dict | list):
            out[k] = json.dumps(v, separators=(",", ":"), sort_keys=True)
        else:
            out[k] = v
    return out


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    return list(seen)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    flat = [flatten(r) for r in rows]
    cols = columns(flat)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in flat:
        w.writerow([_cell(r.get(c)) for c in cols])
    return buf.getvalue()


def _short(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def to_table(rows: Sequence[dict[str, Any]], skip: Sequence[str] = ()) -> str:
    """Fixed-width text; nested values (core sets, per-feature adoption) are left out unless
    nothing else remains."""
    if not rows:
        return "(no rows)"
    cols = [c for c in columns(rows) if c not in skip and not isinstance(rows[0].get(c), dict)]
    body = [[_short(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.ljust(w) for x, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)
