"""deploy/grafana: the provisioned dashboard is laid out as documented, and every panel's PromQL
returns series from the real Prometheus of conftest.py (Grafana's variables replaced as Grafana
would for "All"). The Engagement panels wait for the collector's PES gauges."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.kits.ops.kit import DASHBOARD, GRAFANA_DIR
from tests.kits.ops.stack import Stack

ROWS = ["Fleet and ingest", "Engagement"]
PES_METRICS = {"pes_collector_pes_score", "pes_collector_pes_component"}
# What "All" and the interval macros become; Grafana sends the same shapes.
MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$collector": ".*",
    "$device": ".*",
    "$segment": ".*",
}


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def rows() -> dict[str, list[dict[str, Any]]]:
    """Panels by the row they sit under (rows are top-level panels of type row)."""
    out: dict[str, list[dict[str, Any]]] = {}
    current = None
    for p in dashboard()["panels"]:
        if p["type"] == "row":
            current = p["title"]
            out[current] = list(p.get("panels", []))
        else:
            assert current is not None, f"panel {p['title']!r} above the first row"
            out[current].append(p)
    return out


def queries(panels: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def grafana_to_promql(expr: str) -> str:
    for macro, value in sorted(MACROS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + macro[1:] + "}", value).replace(macro, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def uses_pes_gauges(expr: str) -> bool:
    return any(m in expr for m in PES_METRICS)


def test_two_rows_with_the_documented_panels() -> None:
    by_row = rows()
    assert list(by_row) == ROWS
    fleet = " ".join(e for _, e in queries(by_row["Fleet and ingest"]))
    for needed in (
        "rate(pes_events_stored_total",  # ingest rate
        "pes_ingest_lag_seconds",
        "pes_batch_commit_seconds_bucket",
        "sum by (reason) (rate(pes_events_quarantined_total",
        "pes_stream_gap_events",
        "pes_stream_dropped_events",
        "pes_agent_dropped_events_total",
        "pes_agent_buffer_events",
    ):
        assert needed in fleet, needed
    engagement = queries(by_row["Engagement"])
    assert engagement and all(uses_pes_gauges(e) for _, e in engagement)
    assert {m for _, e in engagement for m in PES_METRICS if m in e} == PES_METRICS
    assert not any(uses_pes_gauges(e) for _, e in queries(by_row["Fleet and ingest"]))


def test_panels_are_well_formed_and_do_not_overlap() -> None:
    d = dashboard()
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for y in range(g["y"], g["y"] + g["h"]):
            for x in range(g["x"], g["x"] + g["w"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
        if p["type"] != "row":
            assert p["targets"] and p["datasource"]["uid"] == "${datasource}", p["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
            assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])


def test_provisioning_points_at_the_dashboard_and_the_data_source_it_defaults_to() -> None:
    prov = yaml.safe_load((GRAFANA_DIR / "provisioning/dashboards/pes.yaml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    ds = yaml.safe_load((GRAFANA_DIR / "provisioning/datasources/pes-prometheus.yaml").read_text())
    (source,) = ds["datasources"]
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == source["type"] == "prometheus"
    assert variables["datasource"]["current"]["value"] == source["uid"]
    assert dashboard()["uid"] and len(dashboard()["uid"]) <= 40


def test_every_fleet_panel_query_returns_series(stack: Stack) -> None:
    empty = []
    checked = 0
    for title, expr in queries(rows()["Fleet and ingest"]):
        checked += 1
        if not stack.prom.query(grafana_to_promql(expr)):
            empty.append((title, expr))
    assert checked >= 15
    assert empty == [], "panels with no data from a live collector and agents"


def test_variable_queries_find_the_collector_and_the_devices(stack: Stack) -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name, expected in (
        ("collector", {stack.collector}),
        ("device", set(stack.agents)),
    ):
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"]["query"])
        assert m, variables[name]
        found = {r["metric"][m.group(2)] for r in stack.prom.query(m.group(1))}
        assert found == expected, name


def test_every_engagement_panel_query_returns_series(stack: Stack) -> None:
    empty = [
        (title, expr)
        for title, expr in queries(rows()["Engagement"])
        if not stack.prom.query(grafana_to_promql(expr))
    ]
    assert empty == [], "PES panels with no data"
