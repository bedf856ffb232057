"""A running interaction app (real FerretDB + Kafka) and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.interaction.app import create_app
from services.interaction.settings import Settings
from services.interaction.store import ActivityStore
from shared.settings import ConnectionSettings
from tests.conftest import bearer, unique


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    # The ingest consumer is off here: only the ingest tests need it (joining takes time).
    settings = Settings(**connection.model_dump(), ingest_enabled=False, max_batches_in_flight=2)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://interaction", headers=bearer()
    ) as http:
        yield http


@pytest.fixture
def store(app: FastAPI) -> ActivityStore:
    activities: ActivityStore = app.state.activities
    return activities


def hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def interaction_body(**overrides: Any) -> dict[str, Any]:
    """A valid interaction for a fresh customer, with a fresh source id."""
    return {
        "customer_id": unique("cust"),
        "channel": "phone",
        "direction": "inbound",
        "agent": "wang",
        "duration_s": 240,
        "subject": "Valve leakage on batch 2411",
        "outcome": "callback_scheduled",
        "sentiment": -0.4,
        "summary": "Customer reports leaking aerosol valves",
        "occurred_at": hours_ago(2),
        "source_system": "cc-genesys",
        "external_id": unique("call"),
    } | overrides


def order_body(**overrides: Any) -> dict[str, Any]:
    return {
        "customer_id": unique("cust"),
        "order_id": unique("SO"),
        "lines": [
            {
                "product_code": "AER-65x200",
                "segment": "insecticide_aerosol",
                "quantity": "12000",
                "unit_price": "0.85",
            }
        ],
        "amount": "10200.00",
        "currency": "CNY",
        "ordered_at": hours_ago(30),
    } | overrides
