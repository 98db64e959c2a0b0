"""deploy/prometheus: the alert rules pass `promtool check rules`, their unit tests pass
`promtool test rules`, every alert has a test that fires it and one that must not, and each of
those tests really depends on its alert's expression (a broken expression makes it fail)."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kits.ops.kit import RULE_TESTS, RULES, promtool

NEVER = "vector(1) == 0"  # no series: a firing expectation fails
ALWAYS = "vector(1)"  # one series at every evaluation: a quiet expectation fails


def _promtool() -> str:
    exe = promtool()
    assert exe, "promtool not installed: source scripts/bootstrap.sh (Debian package prometheus)"
    return exe


def run_promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def rule_tests() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULE_TESTS.read_text())["tests"])


def test_rules_pass_promtool_check() -> None:
    out = run_promtool("check", "rules", RULES)
    assert out.returncode == 0, out.stdout + out.stderr
    n = len(alerts())
    assert n >= 15 and f"SUCCESS: {n} rules found" in out.stdout, out.stdout


def test_rule_unit_tests_pass() -> None:
    out = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for group in rule_tests():
        for check in group["alert_rule_test"]:
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(alerts())
    assert not (fires | quiet) - names, (
        f"tests of alerts that do not exist: {(fires | quiet) - names}"
    )
    assert names - fires == set(), f"alerts never expected to fire: {names - fires}"
    assert names - quiet == set(), f"alerts never expected to stay quiet: {names - quiet}"


def test_every_alert_routes_with_a_severity_and_explains_itself() -> None:
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


@pytest.mark.parametrize("broken", ["never fires", "always fires"])
def test_unit_tests_fail_when_an_alert_expression_is_broken(tmp_path: Path, broken: str) -> None:
    """Per alert: its rule alone, its expression replaced, its own test groups: promtool must
    report that alert failing. Proves no test passes whatever the expression says."""
    rules = yaml.safe_load(RULES.read_text())
    (tmp_path / "rules").mkdir()
    survivors = []
    for name, rule in alerts().items():
        mutated = copy.deepcopy(rule)
        mutated["expr"] = NEVER if broken == "never fires" else ALWAYS
        only = {"groups": [{"name": rules["groups"][0]["name"], "rules": [mutated]}]}
        (tmp_path / "rules" / "one.yml").write_text(yaml.safe_dump(only))
        groups = []
        for g in rule_tests():
            checks = [c for c in g["alert_rule_test"] if c["alertname"] == name]
            if checks:
                groups.append({**g, "alert_rule_test": checks})
        suite = tmp_path / "tests" / "one.test.yml"
        suite.parent.mkdir(exist_ok=True)
        suite.write_text(
            yaml.safe_dump(
                {"rule_files": ["../rules/one.yml"], "evaluation_interval": "1m", "tests": groups}
            )
        )
        out = run_promtool("test", "rules", suite.name, cwd=suite.parent)
        if out.returncode == 0 or not re.search(rf"alertname: {name}\b", out.stdout + out.stderr):
            survivors.append(name)
    assert survivors == [], f"tests still pass with the expression {broken!r}: {survivors}"
