"""Every service answers /healthz and /readyz; readiness names the unreachable dependency."""

from __future__ import annotations

import importlib

import httpx
import pytest

from shared.service import ServiceSettings
from shared.settings import ConnectionSettings

SERVICES = ["customer", "interaction", "complaint", "scoring"]


def settings_for(service: str, **overrides: object) -> ServiceSettings:
    module = importlib.import_module(f"services.{service}.settings")
    settings: ServiceSettings = module.Settings(**overrides)
    return settings


async def get(service: str, settings: ServiceSettings, path: str) -> httpx.Response:
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await client.get(path)


@pytest.mark.parametrize("service", SERVICES)
async def test_ready_when_kafka_and_mongo_answer(
    service: str, connection: ConnectionSettings
) -> None:
    settings = settings_for(service, **connection.model_dump())
    assert (await get(service, settings, "/healthz")).json() == {"status": "ok"}
    ready = await get(service, settings, "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"mongo": True, "kafka": True}}


async def test_not_ready_names_the_unreachable_dependency(connection: ConnectionSettings) -> None:
    values = connection.model_dump() | {"mongo_url": "mongodb://127.0.0.1:1/"}
    settings = settings_for("customer", **values)
    ready = await get("customer", settings, "/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"mongo": False, "kafka": True}
