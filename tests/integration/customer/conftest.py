"""A running customer app (real FerretDB + Kafka) and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.customer.app import create_app
from services.customer.settings import Settings
from services.customer.store import CustomerStore
from shared.settings import ConnectionSettings
from tests.conftest import bearer, unique


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    # The background audit mover is off: tests move pending entries themselves.
    settings = Settings(**connection.model_dump(), audit_move_interval_s=0, view360_enabled=False)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://customer", headers=bearer()
    ) as http:
        yield http


@pytest.fixture
def store(app: FastAPI) -> CustomerStore:
    customers: CustomerStore = app.state.customers
    return customers


def customer_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body with a fresh ERP code, phone and e-mail."""
    erp = unique("C")
    digits = str(uuid_digits())
    return {
        "kind": "organisation",
        "name": "中山凯达精细化工",
        "name_latin": "Zhongshan Kaida Fine Chemical",
        "phones": [f"138 {digits[:4]} {digits[4:]}"],
        "emails": [f"Purchasing.{erp}@Kaida.example.cn"],
        "region": "guangdong",
        "segments": ["insecticide_aerosol"],
        "external_ids": {"erp": erp},
        "tags": ["aerosol"],
        "owner": "wang.lei",
        "key_account": True,
        "relationship_stage": "preferred_supplier",
        "share_of_volume": 0.35,
        "contacts": [{"name": "李娜", "role": "采购经理", "phones": ["+86 139-0000-0001"]}],
    } | overrides


def uuid_digits() -> str:
    """Eight random digits (for unique phone numbers)."""
    return str(int(unique("n").split("-")[1], 16) % 10**8).zfill(8)


async def create(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    response = await client.post("/v1/customers", json=customer_body(**overrides))
    assert response.status_code == 201, response.text
    return response
