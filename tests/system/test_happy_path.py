"""The services and the scorer as real processes on the real stack, driven through HTTP.

A customer is created, orders arrive through the interaction service, a complaint is opened
and escalated: the score in the scorer's Mongo database and on crm.scores.v1 reflect it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.scoring import read_models
from shared.demo.processes import SERVICES, LocalService, ServiceRunner
from shared.mongo import MongoClient
from shared.settings import ConnectionSettings
from shared.stack import Stack
from shared.topics import SCORES
from tests.conftest import bearer, unique
from tests.integration.messaging_support import TopicTail, wait_until_assigned

PORT_SHIFT = 10_000  # next to, not on, the demo's ports


def shifted() -> list[LocalService]:
    return [dataclasses.replace(s, port=s.port + PORT_SHIFT) for s in SERVICES]


@pytest.fixture(scope="module")
def running(stack: Stack, connection: ConnectionSettings) -> Iterator[dict[str, str]]:
    services = shifted()
    runner = ServiceRunner(
        stack.settings,
        services=services,
        extra_env={
            "CRM_MONGO_DATABASE_PREFIX": connection.mongo_database_prefix,
            # Only this test's events: the test stack's topics hold every earlier test's too.
            "CRM_FAUST_APP_ID": unique("system-scorer"),
            "CRM_FAUST_OFFSET_RESET": "latest",
            "CRM_VIEW360_ENABLED": "false",
            "CRM_INGEST_ENABLED": "false",
            "CRM_SWEEP_INTERVAL_S": "3600",
            "CRM_BAND_METRICS_INTERVAL_S": "1",
            "CRM_SLA_CHECK_INTERVAL_S": "1",
        },
    )
    runner.down()
    try:
        runner.up()
        # The scorer starts at the end of the topics: wait until it owns its partitions, or
        # the test's first events would land before its offsets are fixed and be skipped.
        asyncio.run(wait_until_assigned(connection, runner.extra_env["CRM_FAUST_APP_ID"]))
        yield {s.name: s.url for s in services}
    finally:
        runner.down()


async def wait_for_score(
    mongo_client: MongoClient, connection: ConnectionSettings, customer_id: str, orders: int
) -> dict[str, Any]:
    scores = mongo_client[connection.mongo_database_prefix + "crm_scoring"]["customer_scores"]
    async with asyncio.timeout(30):
        while True:
            doc = await read_models.latest(scores.database, customer_id)
            if doc is not None and doc["features"].get("orders") == orders:
                found: dict[str, Any] = doc
                return found
            await asyncio.sleep(0.2)


async def test_orders_and_a_complaint_move_the_score(
    running: dict[str, str], mongo_client: MongoClient, connection: ConnectionSettings
) -> None:
    scores_tail = TopicTail(connection, SCORES.name)
    await scores_tail.mark()
    async with httpx.AsyncClient(timeout=10, headers=bearer()) as http:
        created = await http.post(
            f"{running['customer']}/v1/customers",
            json={"kind": "organisation", "name": "庄臣", "name_latin": "SC Johnson"},
        )
        assert created.status_code == 201, created.text
        customer_id = created.json()["id"]

        for day in ("2026-09-01", "2026-09-15", "2026-10-01", "2026-10-15"):
            placed = await http.post(
                f"{running['interaction']}/v1/orders",
                json={
                    "customer_id": customer_id,
                    "order_id": f"SO-{customer_id}-{day}",
                    "amount": "225000",
                    "ordered_at": f"{day}T02:00:00Z",
                },
            )
            assert placed.status_code == 201, placed.text
        before = await wait_for_score(mongo_client, connection, customer_id, orders=4)

        opened = await http.post(
            f"{running['complaint']}/v1/complaints",
            json={
                "customer_id": customer_id,
                "category": "product_quality",
                "subcategory": "leakage",
                "severity": "critical",
                "title": "阀门泄漏",
            },
        )
        assert opened.status_code == 201, opened.text
        complaint = opened.json()
        escalated = await http.post(
            f"{running['complaint']}/v1/complaints/{complaint['id']}/escalate",
            json={"reason": "manual"},
            headers={"If-Match": opened.headers["ETag"]},
        )
        assert escalated.status_code == 200, escalated.text

    scores = mongo_client[connection.mongo_database_prefix + "crm_scoring"]["customer_scores"]
    async with asyncio.timeout(30):
        # The score that counts the complaint. A score without it may come first: the
        # customer's creation, on another topic, can be scored after the orders, as of today,
        # weeks after the last order, and that silence raises the risk too.
        while True:
            after = await read_models.latest(scores.database, customer_id)
            assert after is not None
            if after["features"].get("open_critical", 0) >= 1:
                break
            await asyncio.sleep(0.2)
    assert after["churn"]["risk"] > before["churn"]["risk"]
    codes = {reason["code"] for reason in after["churn"]["reasons"]}
    assert codes & {"open_critical_complaint", "complaint_escalated"}, (codes, after["features"])

    published = await scores_tail.read(
        lambda got: sum(1 for r in got if r.key == customer_id.encode()) >= 2,
        keep=lambda record: record.key == customer_id.encode(),
    )
    latest = json.loads(published[-1].value)
    assert latest["churn"]["risk"] >= before["churn"]["risk"]


# Series each process must show after the happy path (docs/operations.md lists them all).
EXPECTED_SERIES = {
    "customer": [
        'crm_http_requests_total{method="POST",route="/v1/customers",status="201"}',
        'crm_events_published_total{topic="crm.customer.v1",type="crm.customer.created.v1"}',
        'crm_outbox_backlog_events{collection="customers"}',
        'crm_outbox_oldest_event_age_seconds{collection="customers"}',
    ],
    "interaction": [
        'crm_http_request_duration_seconds_count{method="POST",route="/v1/orders"}',
        'crm_events_published_total{topic="crm.interaction.v1",type="crm.order.placed.v1"}',
    ],
    "complaint": [
        'crm_http_requests_total{method="POST",route="/v1/complaints/{complaint_id}/escalate"',
        'crm_complaints_open{severity="critical"}',
        "# TYPE crm_complaint_sla_breaches_total counter",
    ],
    "scoring": ['crm_customers_by_churn_band{band="low"}'],
    "scorer": [
        'crm_scorer_events_scored_total{type="crm.order.placed.v1"}',
        "crm_scorer_event_to_score_seconds_bucket",
        "crm_scorer_score_write_seconds_count",
        'crm_events_published_total{topic="crm.scores.v1",type="crm.score.updated.v1"}',
    ],
}


async def test_every_process_exports_its_documented_metrics(
    running: dict[str, str],
) -> None:
    # Runs after the happy path (same module): every series below has had something to count.
    async with httpx.AsyncClient(timeout=10) as http:
        for service, series in EXPECTED_SERIES.items():
            async with asyncio.timeout(20):
                while True:
                    text = (await http.get(f"{running[service]}/metrics")).text
                    missing = [name for name in series if name not in text]
                    if not missing:
                        break
                    await asyncio.sleep(0.5)
            assert "customer_id" not in text  # no personal or per-customer labels


async def test_the_scorer_reports_health_and_readiness(running: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{running['scorer']}/healthz")).json() == {"status": "ok"}
        ready = await http.get(f"{running['scorer']}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "mongo": True,
        "partitions_assigned": True,
        "tables_recovered": True,
    }
