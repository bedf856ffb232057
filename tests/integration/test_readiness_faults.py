"""Readiness follows the database: false while MongoDB is unreachable, true once it is back."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

import httpx

from services.customer.app import create_app
from services.customer.settings import Settings
from shared.settings import ConnectionSettings
from tests.integration.faults import CuttableProxy


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, bool]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()["checks"]


async def wait_for_status(client: httpx.AsyncClient, status: int, timeout: float = 40) -> None:
    async with asyncio.timeout(timeout):
        while (await readiness(client))[0] != status:
            await asyncio.sleep(0.5)


async def test_readiness_turns_false_when_mongo_goes_and_true_when_it_returns(
    connection: ConnectionSettings,
) -> None:
    mongo = urlparse(connection.mongo_url)
    proxy = CuttableProxy(mongo.hostname or "127.0.0.1", mongo.port or 27017)
    await proxy.start()
    values = connection.model_dump() | {"mongo_url": f"mongodb://127.0.0.1:{proxy.port}/"}
    settings = Settings(**values, audit_move_interval_s=0, view360_enabled=False)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                assert await readiness(client) == (200, {"mongo": True, "kafka": True})
                await proxy.cut()
                await wait_for_status(client, 503)
                assert (await readiness(client))[1] == {"mongo": False, "kafka": True}
                await proxy.start()
                await wait_for_status(client, 200)
    finally:
        await proxy.cut()
