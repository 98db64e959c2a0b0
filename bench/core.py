"""What a benchmark reports, and the table it is printed as.

Every figure carries its target and, where one makes sense, a baseline measured in the same
process and run, so the ratio stays meaningful on a noisy machine."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Size(Enum):
    """How big a run is: FULL (the figures of docs/performance.md), QUICK (smaller fleets, the
    same names) or SMOKE (toy sizes, seconds a suite: proves that every suite still runs, as
    `scripts/test` does on every CI run; its figures mean nothing)."""

    FULL = "full"
    QUICK = "quick"
    SMOKE = "smoke"

    def pick(self, full: T, quick: T, smoke: T) -> T:
        return {Size.FULL: full, Size.QUICK: quick, Size.SMOKE: smoke}[self]


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""  # e.g. ">= 50000" or "< 40"
    baseline: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        baseline = self.baseline
        if baseline is None or baseline == 0:
            return None
        return self.value / baseline

    @property
    def meets(self) -> bool | None:
        if not self.target:
            return None
        op, _, num = self.target.partition(" ")
        limit = float(num)
        return {">=": self.value >= limit, ">": self.value > limit, "<": self.value < limit,
                "<=": self.value <= limit}[op]  # fmt: skip

    def as_json(self) -> dict[str, object]:
        d: dict[str, object] = {k: v for k, v in asdict(self).items() if k in JSON_KEYS}
        d["ratio"] = self.ratio
        d["note"] = self.note
        d["meets_target"] = self.meets
        return d


Suite = Callable[[Size], Awaitable[list[Figure]]]

# The figures issue 9 asks for by name: the default suites together must produce each of them
# under exactly this name (a --quick run says its smaller fleet in the unit, not the name).
REQUIRED = (
    "agent_record_eps", "agent_rss_mb", "agent_idle_cpu_pct", "agent_drain_eps",
    "ingest_sqlite_eps", "ingest_sqlite_vs_naive", "ingest_pg_eps", "ingest_pg_vs_naive",
    "e2e_latency_p99_s", "query_pes_ms", "query_compare_ms", "query_trend_ms", "query_vs_naive",
)  # fmt: skip
JSON_KEYS = ("name", "value", "unit", "target", "baseline", "ratio")


def missing(figures: Sequence[Figure], names: Sequence[str]) -> list[str]:
    """The names in `names` that no figure carries."""
    have = {f.name for f in figures}
    return [n for n in names if n not in have]


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def render(figures: Sequence[Figure]) -> str:
    head = ["figure", "value", "unit", "target", "ok", "baseline", "ratio", "note"]
    rows = [
        [f.name, _fmt(f.value), f.unit, f.target or "-",
         {True: "yes", False: "NO", None: "-"}[f.meets], _fmt(f.baseline),
         "-" if f.ratio is None else f"{f.ratio:.2f}x", f.note]
        for f in figures
    ]  # fmt: skip
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]  # fmt: skip
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def write_json(path: Path, figures: Sequence[Figure]) -> None:
    path.write_text(json.dumps([f.as_json() for f in figures], indent=1) + "\n")
