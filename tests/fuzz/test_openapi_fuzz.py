"""Schemathesis against every service's OpenAPI document, on the real stack.

Each service's app runs in-process (schemathesis' ASGI transport starts its lifespan: real
FerretDB and Kafka, databases of its own) and every operation is called with generated valid
and invalid input, authenticated as an administrator (every scope). A response fails the test
when it is a 5xx, carries a status code or content type the document does not declare, or a
body that does not match the declared schema.

Besides schemathesis' coverage cases (boundary and invalid values of every parameter), the
random examples per operation are bounded for CI by `CRM_FUZZ_MAX_EXAMPLES` (default 10:
about 4,000 calls, a minute and a half on two cores); raise it for a long run on demand:
`CRM_FUZZ_MAX_EXAMPLES=500 ./scripts/run-tests tests/fuzz` (docs/reliability.md, Fuzzing).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema

from services.complaint.app import create_app as complaint_app
from services.complaint.settings import Settings as ComplaintSettings
from services.customer.app import create_app as customer_app
from services.customer.settings import Settings as CustomerSettings
from services.interaction.app import create_app as interaction_app
from services.interaction.settings import Settings as InteractionSettings
from services.scoring.app import create_app as scoring_app
from services.scoring.settings import Settings as ScoringSettings
from shared.settings import ConnectionSettings
from tests.conftest import bearer, own_databases
from tests.integration.complaint.conftest import complaint_body
from tests.integration.customer.conftest import customer_body

pytestmark = [pytest.mark.stack, pytest.mark.fuzz]

MAX_EXAMPLES = int(os.environ.get("CRM_FUZZ_MAX_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def customer(connection: ConnectionSettings) -> FastAPI:
    # Background work off: the fuzz checks the HTTP API, not the consumers.
    return customer_app(
        CustomerSettings(**connection.model_dump(), audit_move_interval_s=0, view360_enabled=False)
    )


def interaction(connection: ConnectionSettings) -> FastAPI:
    return interaction_app(InteractionSettings(**connection.model_dump(), ingest_enabled=False))


def complaint(connection: ConnectionSettings) -> FastAPI:
    return complaint_app(
        ComplaintSettings(
            **connection.model_dump(), sla_check_interval_s=0, customers_enabled=False
        )
    )


def scoring(connection: ConnectionSettings) -> FastAPI:
    return scoring_app(ScoringSettings(**connection.model_dump(), band_metrics_interval_s=0))


# The customer import takes NDJSON as a plain string (one JSON object per line): sent as text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

SERVICES = {
    "customer": customer,
    "interaction": interaction,
    "complaint": complaint,
    "scoring": scoring,
}


def document(name: str) -> BaseSchema:
    """The service's OpenAPI document, read from an app that is built but not started (the
    test runs the same document against a started app, see `services`)."""
    schema = schemathesis.openapi.from_dict(SERVICES[name](ConnectionSettings()).openapi())
    # Not calling every path with every undeclared method (a 405 from the framework each time):
    # a tenth of the run's time spent on what FastAPI's router guarantees.
    schema.config.phases.coverage.unexpected_methods = set()
    return schema


SCHEMAS = {name: document(name) for name in SERVICES}


@pytest.fixture(scope="module")
def services(connection: ConnectionSettings) -> Iterator[dict[str, FastAPI]]:
    """Each service's app by its name, started (on its first request) until the module ends."""
    apps = {
        name: build(own_databases(connection, f"fuzz_{name}")) for name, build in SERVICES.items()
    }
    for name, app in apps.items():
        assert app.openapi() == SCHEMAS[name].raw_schema, f"{name}: the document varies"
    yield apps
    asgi.shutdown_lifespans()


def client(app: FastAPI) -> asgi.ASGIClient:
    """A `requests` session into the app on schemathesis' event loop, where it runs."""
    # Starlette types the ASGI scope as a MutableMapping, schemathesis as a dict: same thing.
    return asgi.get_client(app)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def existing(services: dict[str, FastAPI]) -> dict[str, str]:
    """Ids of a customer and a complaint that exist, by path parameter name: generated ids
    are all unknown, so without these every call on one entity would end in a 404."""
    with client(services["customer"]) as http:
        customer = http.post("/v1/customers", json=customer_body(), headers=bearer())
    assert customer.status_code == 201, customer.text
    with client(services["complaint"]) as http:
        body = complaint_body(customer_id=customer.json()["id"])
        complaint = http.post("/v1/complaints", json=body, headers=bearer())
    assert complaint.status_code == 201, complaint.text
    return {"customer_id": customer.json()["id"], "complaint_id": complaint.json()["id"]}


calls: Counter[str] = Counter()


@schemathesis.pytest.parametrize(**SCHEMAS)
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # the first call of each service waits for its start-up
    database=None,  # no example database in the working tree
    suppress_health_check=list(HealthCheck),
)
def test_every_operation(
    case: schemathesis.Case[Any], services: dict[str, FastAPI], existing: dict[str, str]
) -> None:
    title = case.operation.schema.raw_schema["info"]["title"]
    app = next(app for app in services.values() if app.title == title)
    # Every other example addresses an entity that exists, so the fuzz gets past the 404.
    calls[case.operation.label] += 1
    if calls[case.operation.label] % 2 and case.path_parameters:
        for name in case.path_parameters.keys() & existing.keys():
            case.path_parameters[name] = existing[name]
    case.call_and_validate(app=app, headers=bearer(), checks=CHECKS)


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("customer", "/v1/customers"),
        ("interaction", "/v1/interactions"),
        ("complaint", "/v1/complaints"),
    ],
)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"\xff\xfe name=\xe9"),  # not UTF-8
        ("application/x-www-form-urlencoded", b"name=\xe9\xff"),
        ("application/json", b"1e999"),  # an infinite number
        ("application/json", b'"\\ud800"'),  # a lone surrogate
    ],
)
def test_a_body_that_cannot_be_echoed_is_refused_with_a_422(
    services: dict[str, FastAPI], service: str, path: str, content_type: str, body: bytes
) -> None:
    # Found next to the fuzz: FastAPI echoes the rejected input in its 422, and could not
    # write these as JSON, so each answer was a 500.
    with client(services[service]) as http:
        response = http.post(path, data=body, headers=bearer() | {"Content-Type": content_type})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]
