"""The customer app as a whole: its OpenAPI document and its background audit mover."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from services.customer.app import create_app
from services.customer.settings import Settings
from services.customer.store import CustomerStore
from shared.settings import ConnectionSettings
from tests.conftest import bearer
from tests.integration.customer.conftest import create


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/v1/customers"])
    assert {"get", "patch", "delete"} <= set(paths["/v1/customers/{customer_id}"])
    for action in ("merge", "erase"):
        assert "post" in paths[f"/v1/customers/{{customer_id}}/{action}"]
    for view in ("history", "duplicates"):
        assert "get" in paths[f"/v1/customers/{{customer_id}}/{view}"]
    patch = paths["/v1/customers/{customer_id}"]["patch"]
    assert {"412", "428"} <= set(patch["responses"])
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_background_mover_moves_pending_audit_entries(
    connection: ConnectionSettings,
) -> None:
    settings = Settings(**connection.model_dump(), audit_move_interval_s=0.05)
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://customer", headers=bearer()
        ) as client:
            customer_id = (await create(client)).json()["id"]
        store: CustomerStore = app.state.customers
        # The mover copies the entries, then removes them from the customer: wait for both.
        moved = pending = None
        for _ in range(200):
            moved = await store.audit.count_documents({"customer_id": customer_id})
            doc = await store.customers.find_one({"_id": customer_id})
            assert doc is not None
            pending = doc["audit_pending_count"]
            if moved == 1 and pending == 0:
                break
            await asyncio.sleep(0.05)
        assert (moved, pending) == (1, 0)
