"""deploy/k8s: the full check (scripts/check-manifests) and what no generic linter knows.

`test_check_manifests_passes` renders both overlays, validates them against the Kubernetes
schemas and runs checkov (tools installed once into the cache; about 10 s warm). It runs by
default; deselect it with `-m "not manifests"`. The other tests read the
rendered YAML (`scripts/check-manifests --render-only`) and check it against the code: the
settings names, the commands and ready paths of shared/demo/processes.py, and the partition
count that bounds the scorer.
"""

from __future__ import annotations

import importlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from pydantic_settings import BaseSettings

from shared.demo.processes import SERVICES as LOCAL_SERVICES
from shared.settings import ConnectionSettings, env_names

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-manifests"
OVERLAYS = ("dev", "prod")
HTTP_SERVICES = ("customer", "interaction", "complaint", "scoring")
HTTP_PORT = 8000
# The Secret's names for access control. Until a settings class reads them they are allowed
# anywhere; from then on only where that class is read (see `known_names`).
AUTH_SECRET_NAMES = {"CRM_AUTH_JWT_SECRET", "CRM_AUTH_BOOTSTRAP_ADMIN_PASSWORD"}

Manifest = dict[str, Any]
Test = TypeVar("Test", bound=Callable[..., None])


def _run(*args: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, "CHECK_MANIFESTS_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=600,  # a cold cache builds kustomize and installs checkov (~2 min)
        check=False,
    )


@pytest.mark.manifests
@pytest.mark.hang_limit(900)  # a cold cache builds kustomize and installs checkov
def test_check_manifests_passes(tmp_path: Path) -> None:
    result = _run(out=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "check-manifests: ok" in result.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Manifest]]:
    out = tmp_path_factory.mktemp("rendered")
    result = _run("--render-only", out=out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {
        overlay: [doc for doc in yaml.safe_load_all((out / f"{overlay}.yaml").read_text()) if doc]
        for overlay in OVERLAYS
    }


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, list[Manifest]]) -> Overlay:
    return Overlay(str(request.param), rendered[str(request.param)])


class Overlay:
    """One rendered overlay, with lookups by kind and name."""

    def __init__(self, name: str, docs: list[Manifest]) -> None:
        self.name = name
        self.docs = docs

    def of_kind(self, kind: str) -> list[Manifest]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        found = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: expected one {kind}/{name}, found {len(found)}"
        return found[0]

    def workloads(self) -> list[Manifest]:
        return self.of_kind("Deployment") + self.of_kind("Job")

    def config(self, name: str) -> dict[str, str]:
        data: dict[str, str] = self.get("ConfigMap", name).get("data") or {}
        return data

    def secret_keys(self, name: str) -> set[str]:
        """The keys of Secret `name`; prod has none (it comes from the cluster's secret store)
        and must provide the keys of the base's placeholder."""
        secrets = [s for s in self.of_kind("Secret") if s["metadata"]["name"] == name]
        secret = secrets[0] if secrets else base_secret()
        assert secret["metadata"]["name"] == name
        return set(secret.get("stringData") or {}) | set(secret.get("data") or {})


def base_secret() -> Manifest:
    secret: Manifest = yaml.safe_load((ROOT / "deploy/k8s/base/secret.yaml").read_text())
    return secret


def containers(workload: Manifest) -> Iterator[tuple[Manifest, Manifest]]:
    """(pod spec, container) for every container of a Deployment or Job."""
    pod = workload["spec"]["template"]["spec"]
    for container in pod.get("initContainers", []) + pod["containers"]:
        yield pod, container


def settings_class_for(command: list[str]) -> type[BaseSettings]:
    """The settings class the process started by `command` reads."""
    assert command[:2] == ["python", "-m"], command
    module = command[2]
    if module == "shared.topics_admin":
        return ConnectionSettings
    package = ".".join(module.split(".")[:2])  # services.scoring.worker -> services.scoring
    settings_class: type[BaseSettings] = importlib.import_module(f"{package}.settings").Settings
    return settings_class


def all_settings_names() -> set[str]:
    names = env_names(ConnectionSettings)
    for service in HTTP_SERVICES:
        names |= env_names(settings_class_for(["python", "-m", f"services.{service}"]))
    return names


def known_names(command: list[str]) -> set[str]:
    """The variables the process started by `command` reads, plus the access-control names
    as long as no settings class reads them yet."""
    return env_names(settings_class_for(command)) | (AUTH_SECRET_NAMES - all_settings_names())


def environment(overlay: Overlay, container: Manifest) -> dict[str, str | None]:
    """Every variable the container gets, from its ConfigMaps and its env (None: from a
    Secret)."""
    names: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names.update(overlay.config(source["configMapRef"]["name"]))
        else:
            names.update(dict.fromkeys(overlay.secret_keys(source["secretRef"]["name"])))
    for variable in container.get("env", []):
        names[variable["name"]] = variable.get("value")
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference is not None:
            keys = overlay.secret_keys(reference["name"])
            assert reference["key"] in keys, f"{overlay.name}: no {reference} in the Secret"
    return names


def partitions(overlay: Overlay) -> int:
    """The partition count the topic Job creates every topic with (shared/topics_admin.py)."""
    configured = overlay.config("crm-common").get("CRM_TOPIC_PARTITIONS")
    default: int = ConnectionSettings.model_fields["topic_partitions"].default
    return int(configured) if configured else default


def test_every_container_has_probes_resources_and_a_locked_down_security_context(
    overlay: Overlay,
) -> None:
    for workload in overlay.workloads():
        where = f"{overlay.name}: {workload['kind']}/{workload['metadata']['name']}"
        for pod, container in containers(workload):
            if workload["kind"] == "Deployment":  # a one-shot Job has nothing to probe
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in container, f"{where}: no {probe}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            seccomp = security.get("seccompProfile") or pod["securityContext"]["seccompProfile"]
            assert seccomp["type"] == "RuntimeDefault", where
            assert pod["automountServiceAccountToken"] is False, where
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp, f"{where}: /tmp is not writable under a read-only root"
            volume = next(v for v in pod["volumes"] if v["name"] == tmp[0]["name"])
            assert "emptyDir" in volume, where
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image, f"{where}: {image}"
            assert not image.endswith(":latest"), f"{where}: {image}"


def test_config_maps_hold_only_settings_the_code_reads(overlay: Overlay) -> None:
    assert set(overlay.config("crm-common")) <= env_names(ConnectionSettings)
    for service in HTTP_SERVICES:
        known = env_names(settings_class_for(["python", "-m", f"services.{service}"]))
        unknown = set(overlay.config(f"crm-{service}")) - known
        assert not unknown, f"{overlay.name}: crm-{service} has {sorted(unknown)}"


def test_every_variable_a_container_gets_is_read_by_its_process(overlay: Overlay) -> None:
    for workload in overlay.workloads():
        for _, container in containers(workload):
            known = known_names(container["command"])
            unknown = set(environment(overlay, container)) - known
            name = workload["metadata"]["name"]
            assert not unknown, f"{overlay.name}: {name} gets unknown {sorted(unknown)}"


def test_secrets_are_in_the_secret_not_the_config_maps(overlay: Overlay) -> None:
    secret_names = {"CRM_MONGO_URL"} | AUTH_SECRET_NAMES
    assert secret_names <= overlay.secret_keys("crm-secrets")
    for config_map in overlay.of_kind("ConfigMap"):
        assert not secret_names & set(config_map.get("data") or {}), config_map["metadata"]
    if overlay.name == "prod":  # never applies the placeholders over the real Secret
        assert not overlay.of_kind("Secret")


def test_commands_ports_and_ready_paths_match_the_local_processes(overlay: Overlay) -> None:
    for local in LOCAL_SERVICES:
        deployment = overlay.get("Deployment", local.name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", local.module, *local.args]
        env = environment(overlay, container)
        port_name = container["readinessProbe"]["httpGet"]["port"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        if local.name == "scorer":
            assert container["readinessProbe"]["httpGet"]["path"] == local.ready_path
            assert str(ports[port_name]) == env["CRM_FAUST_WEB_PORT"]
        else:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert env["CRM_HTTP_HOST"] == "0.0.0.0"
            assert ports[port_name] == HTTP_PORT == int(env["CRM_HTTP_PORT"] or 0)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == ports[port_name]


def test_topic_job_runs_the_topic_admin_entry_point(overlay: Overlay) -> None:
    job = overlay.get("Job", "create-topics")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "shared.topics_admin", "create"]
    env = environment(overlay, container)
    assert {"CRM_KAFKA_BOOTSTRAP_SERVERS", "CRM_TOPIC_PARTITIONS"} <= set(env)


def test_scorer_replicas_never_exceed_the_partition_count(overlay: Overlay) -> None:
    scorer = overlay.get("Deployment", "scorer")
    limit = partitions(overlay)
    assert 1 <= scorer["spec"]["replicas"] <= limit
    # A surge pod during a rollout would be one group member more than there are partitions.
    assert scorer["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    for hpa in overlay.of_kind("HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == "scorer":
            assert hpa["spec"]["maxReplicas"] <= limit


def test_each_deployment_has_a_service_and_a_disruption_budget_and_apis_autoscale(
    overlay: Overlay,
) -> None:
    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return selector.items() <= labels.items()

    autoscaled = {
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in overlay.of_kind("HorizontalPodAutoscaler")
    }
    for deployment in overlay.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(selects(s["spec"]["selector"], labels) for s in overlay.of_kind("Service")), name
        budgets = overlay.of_kind("PodDisruptionBudget")
        assert any(selects(b["spec"]["selector"]["matchLabels"], labels) for b in budgets), name
        if labels["app.kubernetes.io/component"] == "api":
            assert name in autoscaled, name
            assert "replicas" not in deployment["spec"], f"{name}: the HPA owns replicas"
    assert autoscaled == set(HTTP_SERVICES)


def test_prod_runs_more_and_bigger_pods_than_dev(rendered: dict[str, list[Manifest]]) -> None:
    dev, prod = (Overlay(name, rendered[name]) for name in OVERLAYS)
    assert (
        prod.get("Deployment", "scorer")["spec"]["replicas"]
        > dev.get("Deployment", "scorer")["spec"]["replicas"]
    )
    for service in HTTP_SERVICES:
        assert (
            prod.get("HorizontalPodAutoscaler", service)["spec"]["minReplicas"]
            > dev.get("HorizontalPodAutoscaler", service)["spec"]["minReplicas"]
        )
    assert prod.config("crm-common")["CRM_TOPIC_REPLICATION_FACTOR"] == "3"


def test_compose_uses_the_image_and_the_same_variable_names() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    containers_ = compose["services"]
    k8s_names = set(base_secret()["stringData"])
    for config_map in yaml.safe_load_all((ROOT / "deploy/k8s/base/config.yaml").read_text()):
        k8s_names |= set(config_map["data"])
    k8s_names |= {"CRM_HTTP_HOST", "CRM_HTTP_PORT"}  # set on the containers themselves
    for service in (*HTTP_SERVICES, "scorer"):
        container = containers_[service]
        assert container.get("build") == "." or container.get("build", {}).get("context") == "."
        crm_names = {name for name in container["environment"] if name.startswith("CRM_")}
        assert crm_names <= k8s_names, f"{service}: {sorted(crm_names - k8s_names)} not in k8s"
