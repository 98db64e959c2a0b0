"""`pes-collector outcomes import|report` (specs/outcomes.md): load customer outcomes from JSON
lines, and check whether entity health predicts them. Same code path and parameters as
`POST /v1/outcomes` and `GET /v1/outcomes/report` (api/routes/outcomes.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from collector.reports import (
    OutcomeLineError,
    band_table,
    import_outcomes,
    make_outcome_query,
    outcome_band_rows,
    outcome_report,
    to_csv,
    to_table,
)
from collector.settings import CollectorSettings
from collector.storage import open_store

COMMAND = "outcomes"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    out = sub.add_parser(COMMAND, help="customer outcomes: import them, report on them")
    cmds = out.add_subparsers(dest="outcomes_cmd", required=True)
    imp = cmds.add_parser("import", help="load outcomes from a JSON-lines file (all or nothing)")
    imp.add_argument("file")
    imp.add_argument("--config")
    rep = cmds.add_parser("report", help="is health predictive of the outcomes?")
    rep.add_argument("--config")
    rep.add_argument("--entity", choices=["account", "device"], default="account")
    rep.add_argument("--lead", type=int, default=30, help="days between P's end and the outcome")
    rep.add_argument("--period-days", type=int, default=30, help="length of P in days")
    rep.add_argument("--bands", help="band edges, e.g. 0,30,60,70,100")
    rep.add_argument("--device-type", help="only entities active in P with this device type")
    rep.add_argument("--firmware-version", help="only entities active in P with this firmware")
    rep.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    rep.add_argument("--format", choices=["json", "table", "csv"], default="json")


async def run(settings: CollectorSettings, args: argparse.Namespace) -> int:
    if args.outcomes_cmd == "import":
        return await _import(settings, Path(args.file))
    q = make_outcome_query(
        entity=args.entity,
        lead=args.lead,
        length=args.period_days,
        bands=args.bands,
        device_type=args.device_type,
        firmware_version=args.firmware_version,
    )
    async with open_store(settings.storage.url) as store:
        result = await outcome_report(store, settings.pes, q, seed=args.seed)
    _print(result, args.format)
    return 0


async def _import(settings: CollectorSettings, path: Path) -> int:
    async with open_store(settings.storage.url) as store:
        with path.open("rb") as fh:
            try:
                stored = await import_outcomes(store, fh)
            except OutcomeLineError as exc:
                print(f"pes-collector: {path}: {exc} (nothing imported)", file=sys.stderr)
                return 2
    print(json.dumps({"stored": stored}))
    return 0


def _summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    top, weights = result["top_quartile"], result["weights"]
    rows: list[dict[str, Any]] = [
        {"measure": "n", "value": result["n"]},
        {"measure": "auc", "value": result["auc"]},
        *({"measure": f"auc.{k}", "value": v} for k, v in result["signal_auc"].items()),
        {"measure": "top_quartile.threshold", "value": top["threshold"]},
        {"measure": "top_quartile.rate", "value": top["rate"]},
        {"measure": "top_quartile.rest_rate", "value": top["rest_rate"]},
        {"measure": "top_quartile.difference", "value": top["difference"]},
        {"measure": "cv_auc_configured", "value": weights["cv_auc_configured"]},
        {"measure": "cv_auc_suggested", "value": weights["cv_auc_suggested"]},
    ]
    for kind in ("configured", "suggested"):
        for k, v in (weights[kind] or {}).items():
            rows.append({"measure": f"weights.{kind}.{k}", "value": v})
    return rows


def _print(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result, indent=1))
        return
    bands = outcome_band_rows(result)
    if fmt == "csv":
        print(to_csv(bands), end="")
        return
    print("== bands")
    print(band_table(result["bands"]))
    print("== summary")
    print(to_table(_summary(result)))
