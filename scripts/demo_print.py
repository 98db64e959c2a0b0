"""What the demo prints: every table comes from the serving collector's API (the numbers the
dashboard shows) and is drawn by collector.reports, as the CLI draws it. The answers behind the
tables are kept as JSON in the demo's work directory (printed/), so a check can hold the
serving collector to them later (tests/integration/demo)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from collector.reports import band_table, pes_table, release_table
from scripts.demo_fleet import RELEASES

PES_VIEWS = (
    ("device_type,firmware_version", "PES, last 30 days, by configuration (devices):"),
    ("device_type", "PES, last 30 days, by device type (devices):"),
)


async def _get(api: httpx.AsyncClient, path: str, keep: Path | None = None, **params: str) -> Any:
    r = await api.get(path, params=params)
    r.raise_for_status()
    if keep is not None:
        _keep(keep, {"path": path, "params": params, "answer": r.json()})
    return r.json()


def _keep(file: Path, doc: dict[str, Any]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(doc))  # small: a few kB


async def print_pes(api: httpx.AsyncClient, keep: Path) -> None:
    for group_by, title in PES_VIEWS:
        name = group_by.replace(",", "+")
        rows = await _get(api, "/v1/pes", keep / f"pes-{name}.json", group_by=group_by)
        print(f"\n{title}\n")
        print(pes_table(rows, group_by.split(",")), flush=True)


def verdict(rows: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(helps | hurts | no effect, why) for one release's rows: a metric whose
    difference-in-differences stays significant after Holm's correction, by its sign."""
    up = [r for r in rows if r["significant_holm"] and r["did"] > 0]
    down = [r for r in rows if r["significant_holm"] and r["did"] < 0]
    why = ", ".join(f"{r['metric']} {r['did']:+.3f}" for r in (*down, *up))
    if down:
        return "hurts", why
    if up:
        return "helps", why
    return "no effect", "every difference within noise"


def release_verdicts(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, str]]:
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["device_type"], r["from"], r["to"]), []).append(r)
    return {k: verdict(v) for k, v in by.items()}


async def print_releases(api: httpx.AsyncClient, keep: Path) -> None:
    rows = await _get(api, "/v1/releases", keep / "releases.json")
    print(
        "\nRelease impact, last 90 days: each upgraded device against itself 14 days before "
        "and after,\nand against the devices that stayed (did = difference-in-differences):\n"
    )
    print(release_table(rows))
    print()
    for (dtype, old, new), (said, why) in release_verdicts(rows).items():
        meant = RELEASES.get((dtype, old, new), ("?", None))[0]
        mark = "" if said == meant else f"   (the demo meant: {meant})"
        print(f"  {dtype} {old} -> {new}: {said} ({why}){mark}")


async def print_outcomes(api: httpx.AsyncClient, keep: Path) -> None:
    result = await _get(api, "/v1/outcomes/report", keep / "outcomes.json")
    print("\nDoes account health predict renewals? Health 30 days before each renewal decision:\n")
    print(band_table(result["bands"]))
    top, w = result["top_quartile"], result["weights"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    print(
        f"\n  AUC {num(result['auc'])} over {result['n']} outcomes; the top quartile (health >= "
        f"{num(top['threshold'])}) renews {pct(top['rate'])}, the rest {pct(top['rest_rate'])}"
    )
    if w["suggested"]:
        sug = ", ".join(f"{k} {v:.0f}" for k, v in w["suggested"].items())
        print(
            f"  suggested weights: {sug} (cross-validated AUC {num(w['cv_auc_suggested'])} "
            f"against {num(w['cv_auc_configured'])} for the configured 25/35/25/15)"
        )
    risk = await _get(api, "/v1/health", entity="account", list="at_risk")
    gone = [r["entity"] for r in risk if r["dropped"]]
    low = [f"{r['entity']} {r['health']:.0f}" for r in risk if not r["dropped"]]
    print(
        f"\n  at-risk accounts now: {len(risk)}; dropped (no use in 30 days): {len(gone)} "
        f"({', '.join(gone[:4])}{', ...' if len(gone) > 4 else ''}); health low or falling: "
        f"{len(low)} ({', '.join(low[:4])}{', ...' if len(low) > 4 else ''})"
    )


def print_guide(base: str, token: str) -> None:
    lathe = "device_type:lathe-9,firmware_version:"
    compare = f"a={lathe}1.5&b={lathe}1.6"
    print(f"""
What to look at (the dashboard: {base}/?token={token}):
  Overview            {base}/
      The PES table above, per segment, with DAU/WAU/MAU, the PES trend, adoption per core
      feature and new/recovered vs dropped. Old firmware (2.0, 1.4, 3.1) churns and scores low.
  Compare             {base}/compare?{compare}
      lathe-9 1.6 scores a higher PES than 1.5 here, because the engaged customers upgraded
      first: comparing segments misleads ...
  Releases            {base}/releases   (the table: {base}/v1/releases?format=csv)
      ... which the release table settles: press-x 2.2 helps, lathe-9 1.6 broke probing (a core
      feature), weld-7 3.3 changed nothing, each against the devices that stayed behind.
  Accounts & devices  {base}/accounts?entity=account
      The at-risk accounts (churned, fading), the leads, and whether health predicts renewals.
API: curl -H 'Authorization: Bearer {token}' '{base}/v1/pes?group_by=firmware_version'""")
