"""A running complaint app (real FerretDB + Kafka) and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.complaint.app import create_app
from services.complaint.settings import Settings
from services.complaint.store import ComplaintStore
from shared.settings import ConnectionSettings
from tests.conftest import bearer, unique


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    # The background breach check is off: tests run it themselves with an injected `now`; the
    # customer-topic consumer too (tests/integration/complaint/test_customers.py runs its own).
    settings = Settings(**connection.model_dump(), sla_check_interval_s=0, customers_enabled=False)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://complaint", headers=bearer()
    ) as http:
        yield http


@pytest.fixture
def store(app: FastAPI) -> ComplaintStore:
    complaints: ComplaintStore = app.state.complaints
    return complaints


def complaint_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body for a fresh customer."""
    return {
        "customer_id": unique("cust"),
        "category": "product_quality",
        "subcategory": "leakage",
        "severity": "high",
        "channel": "phone",
        "title": "Aerosol cans leaking at the valve",
        "description": "Batch 2411 leaks on the filling line",
        "order_id": "SO-1001",
    } | overrides
