"""The frame every service's FastAPI app is built in: lifespan, health, outbox relay, errors.

A service hands in what is its own (title, the collections whose documents carry an embedded
outbox, a start-up hook that creates indexes and starts its consumers); the frame builds the
Mongo client, the event producer and the relay, serves `/healthz` and `/readyz`, answers 503
when the service's own database is unreachable, and shuts everything down in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import uvicorn
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from shared import health, mongo, observability
from shared.auth import AuthSettings, TokenVerifier
from shared.openapi import document_error_responses
from shared.outbox import OutboxRelay, ensure_outbox_index
from shared.producer import EventProducer
from shared.settings import ConnectionSettings


class ServiceSettings(ConnectionSettings, AuthSettings):
    """What every service's own Settings adds to the connection settings."""

    service_name: str
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database: str
    event_max_future_skew_s: float = Field(
        default=300.0, ge=0, description="Events timed further in the future are rejected"
    )

    @property
    def event_max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.event_max_future_skew_s)


@dataclass
class Runtime:
    """What the frame built for one running service (on `app.state.runtime`)."""

    settings: ServiceSettings
    client: mongo.MongoClient
    database: mongo.Database
    producer: EventProducer
    relay: OutboxRelay
    readiness: health.Readiness
    background: list[asyncio.Task[None]] = field(default_factory=list)

    def start_background(self, work: Awaitable[None]) -> None:
        """Run `work` (a consumer loop, a scheduler) until the service stops."""
        self.background.append(asyncio.ensure_future(work))

    def run_every(self, interval_s: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Run `job` every `interval_s` seconds until the service stops; failures are retried."""
        self.start_background(every(interval_s, job, name))


log = logging.getLogger(__name__)
_STOP_GRACE_S = 10.0


async def every(interval_s: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `job` now and then every `interval_s` seconds until cancelled; never gives up.

    A job that fails (its database away, say) is logged and tried again at the next tick.
    A library may swallow the cancellation delivered while the job waits on it; the loop
    then still stops, because it asks its task whether a cancellation is pending.
    """
    task = asyncio.current_task()
    while True:
        try:
            await job()
        except Exception:
            log.exception("%s failed; trying again in %.0f s", name, interval_s)
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(interval_s)


async def stop_background(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait for them, cancelling again those that swallowed it."""
    pending = {task for task in tasks if not task.done()}
    deadline = asyncio.get_running_loop().time() + _STOP_GRACE_S
    while pending and asyncio.get_running_loop().time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in pending:
        log.error("background task %s did not stop within %.0f s", task.get_name(), _STOP_GRACE_S)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task %s ended with %r", task.get_name(), task.exception())


StartupHook = Callable[[Runtime], Awaitable[None]]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    version: str = "0.1.0",
    outbox_collections: Sequence[str] = (),
    on_startup: StartupHook | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan runs the service's relay and background work."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = mongo.connect(settings)
        db = mongo.database(client, settings, settings.database)
        producer = EventProducer(settings, client_id=settings.service_name)
        relay = OutboxRelay(
            [db[name] for name in outbox_collections],
            producer,
            # Host and pid: two processes on one machine are two relays (only one may hold a
            # collection's lease); a container restarted in its pod (pid 1 again) takes its
            # lease back at once.
            relay_id=f"{settings.service_name}@{socket.gethostname()}:{os.getpid()}",
        )
        kafka_check = health.KafkaCheck(settings.kafka_bootstrap_servers)
        readiness = health.Readiness()
        readiness.add("mongo", health.mongo_check(client))
        readiness.add("kafka", kafka_check)
        runtime = Runtime(settings, client, db, producer, relay, readiness)
        app.state.settings = settings
        app.state.mongo = client
        app.state.database = db
        app.state.readiness = readiness
        app.state.runtime = runtime
        for name in outbox_collections:
            with contextlib.suppress(ConnectionFailure):  # created on a later start
                await ensure_outbox_index(db[name])
        if on_startup is not None:
            await on_startup(runtime)
        if outbox_collections:
            # Started in the background: the service stays writable while Kafka is down.
            runtime.start_background(relay.run())
        try:
            yield
        finally:
            relay.stop()
            await stop_background(runtime.background)
            await producer.stop()
            await kafka_check.close()
            await client.close()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    document_error_responses(app)
    app.include_router(health.router)
    app.middleware("http")(observability.observe_requests)
    app.add_api_route(
        "/metrics",
        observability.metrics_response,
        methods=["GET"],
        include_in_schema=False,  # for Prometheus, not for API clients
    )
    app.state.token_verifier = TokenVerifier(settings)
    if settings.uses_development_key and settings.auth_oidc_jwks_url is None:
        log.warning(
            "%s: tokens are signed with the development key; set CRM_AUTH_JWT_SECRET",
            settings.service_name,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the rejected input, and some input cannot be echoed
        # (found next to tests/fuzz, each a 500 instead of the 422): bytes that are not UTF-8
        # (a body sent as text/plain or as a form) are echoed with replacement characters;
        # an infinite number or a lone surrogate (`1e999`, `"\ud800"`) is not echoed at all.
        detail = jsonable_encoder(
            error.errors(), custom_encoder={bytes: lambda raw: raw.decode(errors="replace")}
        )
        try:
            return JSONResponse({"detail": detail}, status_code=422)
        except (ValueError, UnicodeEncodeError):
            unechoed = [{k: v for k, v in e.items() if k not in {"input", "ctx"}} for e in detail]
            return JSONResponse({"detail": unechoed}, status_code=422)

    @app.exception_handler(ConnectionFailure)
    @app.exception_handler(ServerSelectionTimeoutError)
    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        # Our own database is away: say so plainly; nothing was half-written (single-document
        # atomic writes), and the client may retry.
        return JSONResponse(
            {"detail": "the service's database is unavailable; retry later", "retryable": True},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    return app


def serve(create_app: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Run one service's HTTP API until SIGTERM/SIGINT."""
    observability.configure_logging(settings.service_name)
    uvicorn.run(
        create_app(),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the JSON logging configured above
    )
