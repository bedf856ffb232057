"""The complaint service's FastAPI application (composition root)."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure

from services import complaint
from services.complaint.api.routes import router
from services.complaint.api.surveys import router as survey_router
from services.complaint.breaches import check_breaches
from services.complaint.handlers import customer_handlers
from services.complaint.records import COMPLAINTS, CUSTOMERS_PROCESSED
from services.complaint.settings import Settings, get_settings
from services.complaint.store import ComplaintStore
from shared.consumer import EventConsumer, ProcessedEvents
from shared.events import utc_now
from shared.service import Runtime, create_service_app
from shared.topics import CUSTOMER

package_doc = complaint.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app: FastAPI

    async def on_startup(runtime: Runtime) -> None:
        store = ComplaintStore(runtime.database, notify=runtime.relay.notify)
        app.state.complaints = store
        app.state.customers = None
        if settings.sla_check_interval_s > 0:
            runtime.run_every(
                settings.sla_check_interval_s,
                lambda: check_breaches(store, now=utc_now()),
                name="SLA breach check",
            )
        if not settings.customers_enabled:
            return
        processed = ProcessedEvents(runtime.database[CUSTOMERS_PROCESSED])
        with contextlib.suppress(ConnectionFailure):  # created on a later start
            await processed.ensure_indexes()
        consumer = EventConsumer(
            settings,
            group_id=settings.merge_erase_group_id,
            topics=[CUSTOMER],
            handlers=customer_handlers(store, clock=utc_now),
            processed=processed,
            producer=runtime.producer,
            max_future_skew=settings.event_max_future_skew,
            client_id=f"{settings.service_name}-customers",
        )
        app.state.customers = consumer
        runtime.start_background(consumer.run())

    app = create_service_app(
        settings,
        title="customer-signals — Complaints",
        description=package_doc,
        outbox_collections=[COMPLAINTS],
        on_startup=on_startup,
    )
    app.include_router(router)
    app.include_router(survey_router)
    return app
