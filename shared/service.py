"""The frame every service's FastAPI app is built in: lifespan, health routes, serving."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from shared import health, mongo
from shared.settings import ConnectionSettings


class ServiceSettings(ConnectionSettings):
    """What every service's own Settings adds to the connection settings."""

    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database: str


def create_service_app(
    settings: ServiceSettings, *, title: str, description: str, version: str = "0.1.0"
) -> FastAPI:
    """A FastAPI app with the service's Mongo client and readiness checks on `app.state`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = mongo.connect(settings)
        kafka_check = health.KafkaCheck(settings.kafka_bootstrap_servers)
        readiness = health.Readiness()
        readiness.add("mongo", health.mongo_check(client))
        readiness.add("kafka", kafka_check)
        app.state.settings = settings
        app.state.mongo = client
        app.state.database = mongo.database(client, settings, settings.database)
        app.state.readiness = readiness
        try:
            yield
        finally:
            await kafka_check.close()
            await client.close()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.include_router(health.router)
    return app


def serve(create_app: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Run one service's HTTP API until SIGTERM/SIGINT."""
    uvicorn.run(create_app(), host=settings.http_host, port=settings.http_port, log_level="info")
