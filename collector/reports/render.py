"""Report rows (lists of flat-ish dicts) as CSV or as a plain-text table: the one renderer the API,
the CLI and the demo share, so `--format csv` and `?format=csv` give the same bytes and every
text table is drawn by `to_table`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
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
    cols = _columns(flat)
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


def _score(v: Any) -> str:
    """The PES table's cells: scores to 0.1 (0.01 below 10), an empty cell for False."""
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return _short(v)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str = ""  # header; the key when empty
    right: bool = False  # numbers align right
    fmt: Callable[[Any], str] = _short

    @property
    def header(self) -> str:
        return self.title or self.key


def to_table(
    rows: Sequence[dict[str, Any]],
    skip: Sequence[str] = (),
    *,
    columns: Sequence[Column] | None = None,
    empty: str = "(no rows)",
) -> str:
    """Fixed-width text. By default every column of the rows, nested values (core sets,
    per-feature adoption) left out; `columns` picks, titles, aligns and formats them."""
    if not rows:
        return empty
    if columns is None:
        columns = [
            Column(c)
            for c in _columns(rows)
            if c not in skip and not isinstance(rows[0].get(c), dict)
        ]
    body = [[c.fmt(r.get(c.key)) for c in columns] for r in rows]
    widths = [max(len(c.header), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            x.rjust(w) if c.right else x.ljust(w)
            for x, w, c in zip(cells, widths, columns, strict=True)
        ).rstrip()

    return "\n".join(
        [line([c.header for c in columns]), "  ".join("-" * w for w in widths), *map(line, body)]
    )


_PES_COLUMNS = [
    Column("active", "active", True, _score),
    Column("pes", "PES", True, _score),
    Column("adoption", "adopt", True, _score),
    Column("stickiness", "stick", True, _score),
    Column("growth", "growth", True, _score),
    Column("new", "new", True, _score),
    Column("recovered", "recov", True, _score),
    Column("dropped", "drop", True, _score),
    Column("quick_ratio", "quick", True, _score),
    Column("low_sample", "low n", True, lambda v: "*" if v else ""),
]


def pes_table(rows: Sequence[dict[str, Any]], group_by: Sequence[str]) -> str:
    """The PES table for terminals: the group-by attributes, then the scores."""
    columns = [Column(a, fmt=_score) for a in group_by] + _PES_COLUMNS
    return to_table(rows, columns=columns, empty="(no active entities in this period)")
