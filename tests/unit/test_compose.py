"""docker-compose.yml cannot run here (no Docker engine); check it against the code instead."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from shared.settings import ConnectionSettings, env_names
from shared.stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["customer", "interaction", "complaint", "scoring"]
# Read by the container image itself (Dockerfile), not by pydantic settings.
IMAGE_VARIABLES = {"SERVICE"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_every_service_has_a_container_whose_variables_are_known_settings() -> None:
    containers = compose()["services"]
    for service in SERVICES:
        assert service in containers, f"no container for {service}"
        settings_class = importlib.import_module(f"services.{service}.settings").Settings
        known = env_names(settings_class) | IMAGE_VARIABLES
        variables = set(containers[service]["environment"])
        assert variables <= known, f"{service}: unknown {sorted(variables - known)}"
        assert containers[service]["environment"]["SERVICE"] == service
        assert "healthcheck" in containers[service]


def test_topic_job_uses_connection_settings_and_runs_before_services() -> None:
    containers = compose()["services"]
    assert set(containers["topics"]["environment"]) <= env_names(ConnectionSettings) | {
        "CRM_HTTP_HOST",
        "CRM_HTTP_PORT",
    }
    for service in SERVICES:
        condition = containers[service]["depends_on"]["topics"]["condition"]
        assert condition == "service_completed_successfully"


def test_kafka_image_matches_the_local_stack_version_and_is_kraft() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{StackSettings().kafka_version}"
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert compose()["services"]["mongo"]["image"] == "mongo:7"
