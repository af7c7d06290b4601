"""The deployment files, checked offline (no Docker engine or Kubernetes cluster exists here):
`helm lint`, `helm template` with the default and a production-like values file, every rendered
manifest validated against Kubernetes' own schemas (kubernetes-validate), hadolint on the
Containerfile, and the invariants a release must keep. What this cannot check: that the image builds
and the chart installs on a real cluster; KEDA's ScaledObject and the ServiceMonitor are CRDs whose
schemas are not bundled, so only their shape is checked here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "supportdesk"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/pyproject.toml"))
KUBERNETES = "1.33"
CRDS = {("keda.sh/v1alpha1", "ScaledObject"), ("monitoring.coreos.com/v1", "ServiceMonitor")}
# The names of every secret setting (deploy/supportdesk.env.example lists them for operators).
SECRET_NAMES = {
    line.split("=", 1)[0]
    for line in (REPO / "deploy" / "supportdesk.env.example").read_text().splitlines()
    if "=" in line and not line.startswith("#")
} - {"NOTIFIER_SMTP_HOST", "NOTIFIER_SMTP_PORT", "NOTIFIER_SMTP_SECURITY", "NOTIFIER_SMTP_USERNAME"}


def helm() -> str:
    found = shutil.which("helm") or str(Path.home() / "go" / "bin" / "helm")
    assert os.access(found, os.X_OK), "helm is missing: `make setup-test` installs it with go install"
    return found


def run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


VALUES = {"default": [], "production": ["-f", str(CHART / "values-production.yaml")]}


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    out = run(helm(), "template", "desk", str(CHART), *VALUES[request.param])
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_passes(values: str) -> None:
    run(helm(), "lint", "--strict", str(CHART), *VALUES[values])


def test_every_manifest_is_valid_kubernetes(rendered: list[dict[str, Any]]) -> None:
    checked = 0
    for doc in rendered:
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            assert doc["metadata"]["name"] and doc["spec"], doc
            continue
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        checked += 1
    assert checked >= 3 * len(SERVICES)  # a Deployment, Service and PodDisruptionBudget per service at least


def test_every_service_is_deployed_with_both_probes(rendered: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in of_kind(rendered, "Deployment")}
    assert sorted(deployments) == SERVICES
    for name, d in deployments.items():
        [container] = d["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [name, "serve"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert (
        sorted(p["metadata"]["labels"]["app.kubernetes.io/name"] for p in of_kind(rendered, "PodDisruptionBudget"))
        == SERVICES
    )


def test_no_secret_is_in_a_configmap_or_a_literal(rendered: list[dict[str, Any]]) -> None:
    assert of_kind(rendered, "Secret") == []  # secrets come from the operator's own Secret, never values
    for cm in of_kind(rendered, "ConfigMap"):
        assert not SECRET_NAMES & set(cm["data"]), cm["data"]
    for workload in [*of_kind(rendered, "Deployment"), *of_kind(rendered, "Job")]:
        spec = workload["spec"]["template"]["spec"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            literal = {e["name"] for e in c.get("env", [])}
            assert not SECRET_NAMES & literal, (workload["metadata"]["name"], SECRET_NAMES & literal)


def _secrets_read(container: dict[str, Any]) -> list[str]:
    return [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]


def test_each_service_reads_only_its_own_secret(rendered: list[dict[str, Any]]) -> None:
    # The board's pods must not hold intake's token key or a database login that reads intake's data.
    for d in of_kind(rendered, "Deployment"):
        name = d["metadata"]["labels"]["app.kubernetes.io/name"]
        [container] = d["spec"]["template"]["spec"]["containers"]
        assert _secrets_read(container) == [f"supportdesk-{name}"], name
    [job] = of_kind(rendered, "Job")
    for init in job["spec"]["template"]["spec"]["initContainers"]:
        service = init["args"][0]
        assert _secrets_read(init) == [f"supportdesk-{service}"], init["name"]


def test_one_shared_secret_only_when_asked_for() -> None:
    out = run(helm(), "template", "desk", str(CHART), "--set", "existingSecret=everything")
    docs = [d for d in yaml.safe_load_all(out) if d]
    for d in of_kind(docs, "Deployment"):
        [container] = d["spec"]["template"]["spec"]["containers"]
        assert _secrets_read(container) == ["everything"]


def test_pods_are_locked_down(rendered: list[dict[str, Any]]) -> None:
    for workload in [*of_kind(rendered, "Deployment"), *of_kind(rendered, "Job")]:
        spec = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name  # no Kubernetes API token in the pod
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name


def _ports(rules: list[dict[str, Any]]) -> set[int | str]:
    return {p["port"] for rule in rules for p in rule.get("ports", [])}


def test_network_policies_limit_who_talks_to_whom(rendered: list[dict[str, Any]]) -> None:
    policies = {p["metadata"]["labels"]["app.kubernetes.io/name"]: p for p in of_kind(rendered, "NetworkPolicy")}
    assert sorted(policies) == sorted([*SERVICES, "migrate"])
    base = {53, 9092, 5432}
    for name, policy in policies.items():
        spec = policy["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        # Every rule names its ports: no rule lets a pod reach everything.
        assert all(rule.get("ports") for rule in spec["egress"]), name
        assert all(rule.get("ports") for rule in spec["ingress"]), name
        egress = _ports(spec["egress"])
        assert base <= egress, name
        if name == "migrate":
            assert spec["ingress"] == [] and egress == base
        else:
            assert _ports(spec["ingress"]) == {"http"}, name
    # Only the notifier sends mail; only intake reads mailboxes.
    assert 587 in _ports(policies["notifier"]["spec"]["egress"])
    assert 993 in _ports(policies["intake"]["spec"]["egress"])
    for quiet in ("board", "triage", "sla-clock", "escalation"):
        assert _ports(policies[quiet]["spec"]["egress"]) == base, quiet


def test_migrations_run_before_the_deployments(rendered: list[dict[str, Any]]) -> None:
    [job] = of_kind(rendered, "Job")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    assert hooks == {"pre-install", "pre-upgrade"}  # Helm waits for it before creating Deployments
    spec = job["spec"]["template"]["spec"]
    assert sorted(c["args"][0] for c in spec["initContainers"]) == SERVICES
    assert all(c["args"][1:] == ["migrate"] for c in spec["initContainers"])
    [topics] = spec["containers"]
    assert topics["args"][:2] == ["intake", "create-topics"]


def test_keda_scales_consumers_on_lag_within_the_partitions() -> None:
    out = run(helm(), "template", "desk", str(CHART), "-f", str(CHART / "values-production.yaml"))
    scaled = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ScaledObject"]
    assert scaled
    for s in scaled:
        [trigger] = s["spec"]["triggers"]
        assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"].startswith("acme.")
        assert s["spec"]["maxReplicaCount"] <= 24  # more consumers than partitions would sit idle


def test_containerfile_passes_hadolint_and_runs_as_non_root() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    run(str(hadolint), str(CONTAINERFILE))
    text = CONTAINERFILE.read_text()
    assert re.search(r"^USER 10001$", text, re.MULTILINE) and "HEALTHCHECK" in text
    for service in SERVICES:
        assert f"./services/{service}" in text, f"the image does not install {service}"


def test_compose_file_is_consistent() -> None:
    """What `docker compose config` would catch that matters here; the engine itself is not run."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        literal = svc.get("environment", {})
        assert not SECRET_NAMES & set(literal), f"{name} has a secret in compose.yaml"
    for service in SERVICES:
        assert services[service]["command"] == [service, "serve"]
        assert f"{service} migrate" in services["migrate"]["command"][-1]


def test_a_broker_with_tls_and_credentials_reaches_every_pod() -> None:
    out = run(
        helm(),
        "template",
        "desk",
        str(CHART),
        "--set",
        "kafka.securityProtocol=SASL_SSL",
        "--set",
        "kafka.caSecret=kca",
    )
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) not in CRDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    [config] = of_kind(docs, "ConfigMap")
    assert config["data"]["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["data"]["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    ca = config["data"]["KAFKA_SSL_CAFILE"]
    for workload in [*of_kind(docs, "Deployment"), *of_kind(docs, "Job")]:
        spec = workload["spec"]["template"]["spec"]
        assert {
            "name": "kafka-ca",
            "secret": {"secretName": "kca", "items": [{"key": "ca.pem", "path": "ca.pem"}]},
        } in (spec["volumes"])
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            [mount] = [m for m in c["volumeMounts"] if m["name"] == "kafka-ca"]
            assert ca == f"{mount['mountPath']}/ca.pem" and mount["readOnly"] is True
    # The user and password are each service's own: in its Secret, never in the chart.
    assert not {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} & set(config["data"])
