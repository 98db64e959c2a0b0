"""Report rows (lists of flat-ish dicts) as CSV or as a plain-text table: the one renderer the API,
the CLI and the demo share, so `--format csv` and `?format=csv` give the same bytes and every
text table is drawn by `to_table`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def _is_flat(v: Any) -> bool:
    """A scalar, or a list of scalars (a list becomes one cell)."""
    if isinstance(v, list):
        return all(not isinstance(x, dict | list) for x in v)
    return not isinstance(v, dict)


def _joined(v: Any) -> Any:
    # Names on the wire cannot contain ";" (shared/limits.py), so the text splits back exactly.
    return ";".join(_cell(x) for x in v) if isinstance(v, list) else v


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """One level: {"feature_adoption": {"x": 0.5}} -> {"feature_adoption.x": 0.5}; a list of
    scalars becomes `;`-joined text (["low", "dropped"] -> "low;dropped"), as spreadsheets and
    warehouse loaders expect; anything deeper stays JSON text."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict) and all(_is_flat(x) for x in v.values()):
            out.update({f"{k}.{sk}": _joined(sv) for sk, sv in v.items()})
        elif _is_flat(v):
            out[k] = _joined(v)
        else:
            out[k] = json.dumps(v, separators=(",", ":"), sort_keys=True)
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
    if isinstance(v, list) and _is_flat(v):
        return ", ".join(map(_short, v))
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


# The one number format of every text table (and of the dashboard, docs/dashboard.md): scores
# and points to 0.1, shares as percents to 0.1, ratios to 0.01, counts whole.
def _score(v: Any) -> str:
    """The PES table's cells: scores to 0.1, an empty cell for False."""
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return f"{v:.1f}"
    return _short(v)


def _ratio(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, float) else _short(v)


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
    Column("quick_ratio", "quick", True, _ratio),
    Column("low_sample", "low n", True, lambda v: "*" if v else ""),
]


def pes_table(rows: Sequence[dict[str, Any]], group_by: Sequence[str]) -> str:
    """The PES table for terminals: the group-by attributes, then the scores."""
    columns = [Column(a, fmt=_score) for a in group_by] + _PES_COLUMNS
    return to_table(rows, columns=columns, empty="(no active entities in this period)")


def _points(v: Any, *, sign: bool = False) -> str:
    """A score or a difference of scores (0-100 points): always one decimal."""
    if v is None:
        return "-"
    return f"{v:+.1f}" if sign else f"{v:.1f}"


def _interval(value: Any, lo: Any, hi: Any, *, sign: bool = False) -> str:
    if value is None:
        return "-"
    if lo is None or hi is None:
        return _points(value, sign=sign)
    return f"{_points(value, sign=sign)} ({_points(lo, sign=sign)} to {_points(hi, sign=sign)})"


def compare_table(rows: Sequence[dict[str, Any]], baseline: str) -> str:
    """/v1/compare's long rows (one per configuration and metric) side by side for a terminal:
    a line per configuration, then a row per metric with each configuration's value and each
    difference from the baseline, with their 95% bootstrap intervals."""
    if not rows:
        return "(no configurations)"
    configs: dict[str, dict[str, Any]] = {}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        configs.setdefault(r["config"], r)
        cells[r["config"], r["metric"]] = r
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    others = [c for c in configs if c != baseline]
    head = []
    for name, r in configs.items():
        role = " (baseline)" if name == baseline else ""
        low = ", low sample" if r["low_sample"] else ""
        size = f"{r['active']} active of {r['entities']}{low}"
        head.append(f"{name}{role}: {r['definition']}: {size}")
    table: list[dict[str, Any]] = []
    for m in metrics:
        row: dict[str, Any] = {"metric": m}
        for c in configs:
            x = cells.get((c, m), {})
            row[c] = _interval(x.get("value"), x.get("ci_low"), x.get("ci_high"))
        for c in others:
            x = cells.get((c, m), {})
            d = _interval(x.get("delta"), x.get("delta_low"), x.get("delta_high"), sign=True)
            mark = " **" if x.get("significant_holm") else " * " if x.get("significant") else "   "
            row[f"{c} - {baseline}"] = d + mark
        table.append(row)
    columns = [Column("metric")] + [Column(k, right=True) for k in table[0] if k != "metric"]
    legend = (
        "Values and differences in points, with 95% bootstrap intervals.\n"
        "* significant; ** still significant after Holm's correction over all differences."
    )
    return "\n".join([*head, "", to_table(table, columns=columns), "", legend])


REASON_WORDS = {
    "low": "low health",
    "dropped": "not active this period",
    "falling": "health falling",
}


def _percent(v: Any) -> str:
    """A share (0-1) as a percent, always to one decimal."""
    return "-" if v is None else f"{100 * v:.1f}%"


def _words(v: Any) -> str:
    return ", ".join(REASON_WORDS.get(x, x) for x in v or [])


_HEALTH_COLUMNS = [
    Column("entity"),
    Column("health", right=True, fmt=_points),
    Column("health_prev", "before", True, _points),
    Column("change", right=True, fmt=lambda v: _points(v, sign=True)),
    Column("active_days", "days", True),
    Column("frequency", "freq", True, _percent),
    Column("breadth", right=True, fmt=_percent),
    Column("key_actions", "key", True, _percent),
    Column("depth", right=True, fmt=_percent),
    Column("mean_session_minutes", "session min", True, _points),
    Column("at_risk", "at risk", fmt=_short),
    Column("reasons", "why", fmt=_words),
    Column("pql", "PQL", fmt=_short),
]


def health_table(rows: Sequence[dict[str, Any]]) -> str:
    """/v1/health rows for a terminal: scores in points, signals as percents, the at-risk
    reasons as words."""
    columns = _HEALTH_COLUMNS
    if any("account_id" in r for r in rows):  # device rows name their account
        columns = [columns[0], Column("account_id", "account"), *columns[1:]]
    return to_table(rows, columns=columns, empty="(no entities in this period)")


_RETENTION_KEYS = {"cohort", "week", "entities", "retained", "rate", "rate_ci"}


def retention_table(rows: Sequence[dict[str, Any]]) -> str:
    """/v1/retention's long rows as the usual cohort grid: a row per (group, cohort) with its
    size and the percent retained in each week after it ("all": the pooled curve)."""
    grid: dict[tuple[Any, ...], dict[str, Any]] = {}
    weeks: set[int] = set()
    for r in rows:
        group = tuple((k, v) for k, v in r.items() if k not in _RETENTION_KEYS)
        line = grid.setdefault((*group, r["cohort"]), {**dict(group), "cohort": r["cohort"]})
        if r["week"] == 0:
            line["size"] = r["entities"]
        line[f"w{r['week']}"] = _percent(r["rate"])
        weeks.add(r["week"])
    if not grid:
        return "(no cohorts in this period)"
    first = next(iter(grid.values()))
    columns = [Column(k) for k in first if k not in {"cohort", "size"} and k[:1] != "w"]
    columns += [Column("cohort"), Column("size", right=True)]
    columns += [Column(f"w{k}", right=True, fmt=lambda v: v or "") for k in sorted(weeks)]
    return to_table(list(grid.values()), columns=columns)


def _measure(v: Any, *, sign: bool = False) -> str:
    """A release metric (a share, or uses a day): three decimals."""
    if v is None:
        return "-"
    return f"{v:+.3f}" if sign else f"{v:.3f}"


def _measure_ci(v: Any) -> str:
    return "-" if not v else f"{_measure(v[0], sign=True)} to {_measure(v[1], sign=True)}"


_RELEASE_COLUMNS = [
    Column("device_type", "device type"),
    Column("from"),
    Column("to"),
    Column("metric"),
    Column("measurable", "measured", True),
    Column("pending", right=True),
    Column("pre_mean", "before", True, _measure),
    Column("post_mean", "after", True, _measure),
    Column("change", right=True, fmt=lambda v: _measure(v, sign=True)),
    Column("control_change", "control", True, lambda v: _measure(v, sign=True)),
    Column("did", "diff-in-diff", True, lambda v: _measure(v, sign=True)),
    Column("did_ci", "95% interval", True, _measure_ci),
    Column("significant_holm", "Holm", fmt=lambda v: "yes" if v else "no" if v is False else "-"),
]


def release_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """/v1/releases rows for a terminal: means to 0.001, differences signed, the
    difference-in-differences with its interval and whether it survives Holm's correction."""
    return to_table(
        [dict(r) for r in rows],
        columns=_RELEASE_COLUMNS,
        empty="(no firmware changes in this period)",
    )


def _band(v: dict[str, Any]) -> str:
    return f"{v['lo']:g}-{v['hi']:g}"


def band_table(bands: Sequence[dict[str, Any]]) -> str:
    """The outcomes report's bands for a terminal: health band, outcomes, retained, and the
    retention rate with its 95% Wilson interval, as percents."""
    rows = [
        {"band": _band(b), "n": b["n"], "retained": b["retained"], "rate": b["rate"],
         "ci": b["rate_ci"]}
        for b in bands
    ]  # fmt: skip
    columns = [
        Column("band", "health"),
        Column("n", "outcomes", True),
        Column("retained", right=True),
        Column("rate", "rate", True, _percent),
        Column("ci", "95% interval", True,
               lambda v: "-" if not v else f"{_percent(v[0])} to {_percent(v[1])}"),
    ]  # fmt: skip
    return to_table(rows, columns=columns, empty="(no outcomes)")
