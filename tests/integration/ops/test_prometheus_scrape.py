"""A real Prometheus on the shipped scrape config and rules scrapes a real `pes-collector serve`
and real `pes-agent run` processes (conftest.py): targets are up, the series an operator
relies on carry what the processes did, and the rules evaluate on them."""

from __future__ import annotations

import re
import time

import yaml

from tests.kits.ops.kit import RULES
from tests.kits.ops.stack import STORED, Stack

PENDING_METRICS = {"pes_collector_pes_score", "pes_collector_pes_component"}


def value(stack: Stack, expr: str) -> float:
    rows = stack.prom.query(expr)
    assert len(rows) == 1, (expr, rows)
    return float(rows[0]["value"][1])


def test_collector_and_agents_are_scraped_and_up(stack: Stack) -> None:
    by_job: dict[str, dict[str, str]] = {}
    for t in stack.prom.targets():
        assert t["lastError"] == "", t
        url = t["scrapeUrl"]
        assert url.endswith("/metrics"), url
        by_job.setdefault(t["labels"]["job"], {})[t["labels"]["instance"]] = t["health"]
    assert by_job == {
        "pes-collector": {stack.collector: "up"},
        "pes-agent": {instance: "up" for instance in stack.agents.values()},
    }
    assert value(stack, 'sum(up{job="pes-collector"})') == 1
    assert value(stack, 'sum(up{job="pes-agent"})') == 2


def test_key_series_say_what_the_processes_did(stack: Stack) -> None:
    c = f'job="pes-collector",instance="{stack.collector}"'
    assert value(stack, f"pes_events_stored_total{{{c}}}") == STORED
    assert value(stack, f'pes_events_quarantined_total{{{c},reason="bad_json"}}') == 2
    assert value(stack, f"pes_db_events{{{c}}}") == STORED
    assert value(stack, f"pes_db_quarantined{{{c}}}") == 2
    assert value(stack, f"pes_batch_commit_seconds_count{{{c}}}") >= 1
    assert value(stack, f"pes_ingest_messages_total{{{c}}}") >= 3  # batches, statuses, bad ones
    assert value(stack, f"rate(pes_events_stored_total{{{c}}}[1m])") > 0
    assert 0 <= value(stack, f"pes_ingest_lag_seconds{{{c}}}") < 60
    for gauge in ("pes_store_errors_total", "pes_stream_gap_events", "pes_stream_dropped_events"):
        assert value(stack, f"{gauge}{{{c}}}") == 0, gauge
    assert value(stack, f"pes_collector_ready{{{c}}}") == 1
    assert value(stack, f"pes_mqtt_connected{{{c}}}") == 1
    assert value(stack, f'pes_db_devices_silent{{{c},window="24h"}}') == 0
    assert value(stack, f"pes_alert_webhook_failures_total{{{c}}}") == 0

    live, stuck = 'device_id="gw-ops-live"', 'device_id="gw-ops-stuck"'
    assert value(stack, f'pes_agent_up{{job="pes-agent",{live}}}') == 1
    assert value(stack, f"pes_agent_connected{{{live}}}") == 1
    assert value(stack, f"pes_agent_events_acked_total{{{live}}}") == STORED
    assert value(stack, f"pes_agent_buffer_events{{{live}}}") == 0
    assert value(stack, f"pes_agent_connected{{{stuck}}}") == 0
    assert value(stack, f"pes_agent_buffer_events{{{stuck}}}") == 3
    assert value(stack, f"pes_agent_buffer_oldest_age_seconds{{{stuck}}}") > 0
    assert value(stack, f"pes_agent_dropped_events_total{{{stuck}}}") == 0
    fill = f"pes_agent_buffer_disk_bytes{{{stuck}}} / pes_agent_buffer_limit_bytes{{{stuck}}}"
    assert 0 < value(stack, fill) < 0.8


def metric_names(promql: str) -> set[str]:
    names = set(re.findall(r"\b(pes_[a-z0-9_]+)\b", promql))
    if re.search(r"\bup\{", promql):
        names.add("up")
    return names


def test_alert_rules_use_only_metrics_the_processes_export(stack: Stack) -> None:
    exported = set(stack.prom.get("label/__name__/values"))
    groups = yaml.safe_load(RULES.read_text())["groups"]
    used = {n for g in groups for r in g["rules"] for n in metric_names(r["expr"])}
    assert len(used) >= 15
    assert used - exported == set(), "rules use metrics nobody exports"


def test_rules_load_and_evaluate_cleanly_on_real_series(stack: Stack) -> None:
    rules = {
        r["name"]: r for g in stack.prom.get("rules")["groups"] for r in g["rules"] if r["type"]
    }
    shipped = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert set(rules) == shipped
    bad = {n: (r["health"], r.get("lastError")) for n, r in rules.items() if r["health"] != "ok"}
    assert bad == {}


def test_alerts_react_to_the_real_quarantine_and_the_disconnected_agent(stack: Stack) -> None:
    """1 bad payload next to 20 events is ~5% quarantined (alert pending for its 15 minutes);
    the agent without a broker is pending PesAgentDisconnected; nothing says the collector is
    down or idle."""
    active = {
        (a["labels"]["alertname"], a["labels"].get("reason") or a["labels"].get("device_id")): a
        for a in stack.prom.get("alerts")["alerts"]
    }
    assert active[("PesQuarantineRateHigh", "bad_json")]["state"] == "pending"
    assert active[("PesAgentDisconnected", "gw-ops-stuck")]["state"] == "pending"
    names = {name for name, _ in active}
    assert not names & {"PesCollectorDown", "PesNoCollectorUp", "PesCollectorNotIngesting"}
    assert ("PesAgentDisconnected", "gw-ops-live") not in active


def test_agent_statuses_alone_keep_commits_coming(stack: Stack) -> None:
    """PesCollectorNotIngesting rests on this: with no event sent, the agents' statuses
    (every 2 s here, 60 s by default) still make write transactions, while the MQTT message
    counter, which counts batches only, stands still."""
    c = f'job="pes-collector",instance="{stack.collector}"'
    messages = value(stack, f"pes_ingest_messages_total{{{c}}}")
    commits = value(stack, f"pes_batch_commit_seconds_count{{{c}}}")
    deadline = time.monotonic() + 20
    while value(stack, f"pes_batch_commit_seconds_count{{{c}}}") <= commits:
        assert time.monotonic() < deadline, "no write transaction from statuses in 20 s"
        time.sleep(0.5)
    assert value(stack, f"pes_ingest_messages_total{{{c}}}") == messages
