"""A running interaction app (real FerretDB + Kafka) and an HTTP client for it; the same app
with its Kafka consumers (ingest topic, customer read model) running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.interaction.app import create_app
from services.interaction.settings import Settings
from services.interaction.store import ActivityStore
from shared.settings import ConnectionSettings
from shared.topics import CONTACT_CENTER_INGEST, CUSTOMER
from tests.conftest import bearer, unique
from tests.integration.messaging_support import group_at_end


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    # The ingest consumer is off here: only the ingest tests need it (joining takes time).
    settings = Settings(**connection.model_dump(), ingest_enabled=False, max_batches_in_flight=2)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def running_with_consumers(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    """The app with its ingest and customer consumers, each in a new group at the topic's
    end, once both have partitions."""
    settings = Settings(
        **connection.model_dump(),
        ingest_group_id=await group_at_end(connection, CONTACT_CENTER_INGEST),
        customers_group_id=await group_at_end(connection, CUSTOMER),
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        deadline = time.monotonic() + 30
        for consumer in (application.state.ingest, application.state.customer_refs):
            while not consumer.assigned:
                assert time.monotonic() < deadline, "a consumer got no partitions"
                await asyncio.sleep(0.1)
        yield application


@pytest.fixture
async def ingest_app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    async with running_with_consumers(connection) as application:
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
