"""The deployment files that cannot run here (no Docker, Kubernetes or EMQX on this machine):
they parse, and they agree with each other and with the collector they deploy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
K8S = DEPLOY / "k8s"


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def k8s() -> dict[str, dict[str, Any]]:
    """kind -> the one manifest of that kind."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_all(path):
            assert doc["kind"] not in out, f"two {doc['kind']} manifests"
            out[doc["kind"]] = doc
    return out


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_yaml_parses(path: Path) -> None:
    assert load_all(path)


def test_compose_services_healthchecks_and_distinct_collectors() -> None:
    (compose,) = load_all(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"mosquitto", "postgres", "collector-a", "collector-b"}
    assert all("healthcheck" in s for s in services.values())
    collectors = [s for name, s in services.items() if name.startswith("collector")]
    for s in collectors:
        assert s["build"]["dockerfile"] == "deploy/Containerfile"
        assert (DEPLOY / s["build"]["context"] / s["build"]["dockerfile"]).is_file()
        assert s["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert s["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    ids = {s["environment"]["PES_COLLECTOR_INGEST__CLIENT_ID"] for s in collectors}
    ports = {s["command"][s["command"].index("--port") + 1] for s in collectors}
    assert len(ids) == len(ports) == len(collectors), "collectors must differ in id and port"
    for s in collectors:  # each healthcheck probes its own collector's port
        port = s["command"][s["command"].index("--port") + 1]
        assert f"127.0.0.1:{port}/readyz" in " ".join(s["healthcheck"]["test"])
    # The broker runs the shipped config, mounted from the repository unchanged.
    mounts = [v.split(":")[0] for v in services["mosquitto"]["volumes"]]
    for src in ("./mosquitto/mosquitto.conf", "./mosquitto/pes.acl"):
        assert src in mounts and (DEPLOY / src).is_file()


def test_k8s_manifests_agree() -> None:
    m = k8s()
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service",
            "PodDisruptionBudget", "HorizontalPodAutoscaler", "CronJob",
            "Kustomization"} <= set(m)  # fmt: skip
    dep = m["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for kind, selector in (
        ("Deployment", dep["spec"]["selector"]["matchLabels"]),
        ("Service", m["Service"]["spec"]["selector"]),
        ("PodDisruptionBudget", m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]),
    ):
        assert selector.items() <= labels.items(), f"{kind} selects no collector pod"
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    port_names = {p["name"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in port_names
    assert m["Service"]["spec"]["ports"][0]["targetPort"] in port_names
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in c["env"]}
    assert env["PES_COLLECTOR_INGEST__CLIENT_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.name"
    )
    assert c["envFrom"][0]["secretRef"]["name"] == m["Secret"]["metadata"]["name"]
    hpa_target = m["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
    assert hpa_target == dep["metadata"]["name"]
    job = m["CronJob"]["spec"]
    assert job["concurrencyPolicy"] == "Forbid"  # alerts evaluated once for the group
    assert "--once" in job["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    listed = set(m["Kustomization"]["resources"])
    assert "secret.example.yaml" not in listed  # apply -k must not overwrite real secrets
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {
        "kustomization.yaml", "secret.example.yaml"
    }  # fmt: skip


def test_k8s_config_is_valid_collector_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = k8s()
    dep = m["Deployment"]["spec"]["template"]["spec"]
    (c,) = dep["containers"]
    config = c["command"][c["command"].index("--config") + 1]
    (mount,) = [v for v in c["volumeMounts"] if config.startswith(v["mountPath"] + "/")]
    (volume,) = [v for v in dep["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    key = Path(config).name
    toml = tmp_path / key
    toml.write_text(m["ConfigMap"]["data"][key])
    for name, value in m["Secret"]["stringData"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PES_COLLECTOR_INGEST__CLIENT_ID", "pes-collector-7d9f-abcde")
    settings = load_settings(toml)
    assert settings.storage.url.startswith("postgresql://")
    assert settings.api.port == 8080 and settings.api.tokens
    assert settings.ingest.client_id == "pes-collector-7d9f-abcde"


def test_emqx_acl_rules() -> None:
    text = (DEPLOY / "emqx" / "acl.conf").read_text()
    rules = [r.strip() for r in re.sub(r"%%.*", "", text).split("}.") if r.strip()]
    for r in rules:
        assert r.count("{") == r.count("}") + 1 and r.count("[") == r.count("]"), r
    assert rules[-1] == "{deny, all"  # nothing is allowed unless granted above
    joined = " ".join(rules)
    for topic in ("events", "status", "ack"):
        assert f'"pes/v1/dev/${{username}}/{topic}"' in joined
    conf = (DEPLOY / "emqx" / "emqx.conf").read_text()
    assert 'path = "/opt/emqx/etc/pes-acl.conf"' in conf and "no_match = deny" in conf
    assert conf.count("{") == conf.count("}")
