"""Plain-text rendering of PES rows for terminals (no dependency needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_COLUMNS = [
    ("active", "active"),
    ("pes", "PES"),
    ("adoption", "adopt"),
    ("stickiness", "stick"),
    ("growth", "growth"),
    ("new", "new"),
    ("recovered", "recov"),
    ("dropped", "drop"),
    ("quick_ratio", "quick"),
]


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)


def render_table(rows: Sequence[dict[str, Any]], group_by: Sequence[str]) -> str:
    head = [*group_by, *(title for _, title in _COLUMNS), "low n"]
    body = [
        [
            *(_fmt(r.get(a)) for a in group_by),
            *(_fmt(r.get(k)) for k, _ in _COLUMNS),
            "*" if r.get("low_sample") else "",
        ]
        for r in rows
    ]
    if not body:
        return "(no active entities in this period)"
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    n = len(group_by)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < n else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, body)])
