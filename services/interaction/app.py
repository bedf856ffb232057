"""The interaction service's FastAPI application (composition root)."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure

from services import interaction
from services.interaction.api.overload import BatchAdmission
from services.interaction.api.routes import router
from services.interaction.domain.overload import InFlightLimit
from services.interaction.handlers import customer_handlers, ingest_handlers
from services.interaction.settings import Settings, get_settings
from services.interaction.store import (
    ACTIVITIES,
    CUSTOMERS_PROCESSED,
    EVENT_BATCHES,
    INGEST_PROCESSED,
    ActivityStore,
    CustomerStatusStore,
    FactBuffer,
    ReferenceStore,
)
from shared.consumer import EventConsumer, ProcessedEvents
from shared.events import utc_now
from shared.service import Runtime, create_service_app
from shared.topics import CONTACT_CENTER_INGEST, CUSTOMER

package_doc = interaction.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app: FastAPI

    async def on_startup(runtime: Runtime) -> None:
        store = ActivityStore(
            runtime.database, notify=runtime.relay.notify, hint=runtime.relay.hint
        )
        app.state.activities = store
        app.state.ingest = None
        refs = ReferenceStore(runtime.database)
        app.state.references = refs
        app.state.customer_refs = None
        status = CustomerStatusStore(runtime.database)
        app.state.customer_status = status
        with contextlib.suppress(ConnectionFailure):  # created on a later start
            await store.ensure_indexes()
            await refs.ensure_indexes()

        async def recover_event_batches() -> None:
            await store.recover_event_batches(
                staged_before=utc_now() - settings.event_batch_recovery_after
            )

        runtime.run_every(
            settings.event_batch_recovery_after_s / 2, recover_event_batches, "event batch recovery"
        )
        if not settings.ingest_enabled:
            return
        ingested = FactBuffer(store, status)
        consumers = {
            "ingest": (
                settings.ingest_group_id,
                CONTACT_CENTER_INGEST,
                ingest_handlers(ingested, refs, status, clock=utc_now),
                INGEST_PROCESSED,
                ingested.flush,
            ),
            "customer_refs": (
                settings.customers_group_id,
                CUSTOMER,
                customer_handlers(store, refs, status, clock=utc_now),
                CUSTOMERS_PROCESSED,
                None,
            ),
        }
        for name, (group_id, topic, handlers, processed_in, after_batch) in consumers.items():
            processed = ProcessedEvents(runtime.database[processed_in])
            with contextlib.suppress(ConnectionFailure):
                await processed.ensure_indexes()
            consumer = EventConsumer(
                settings,
                group_id=group_id,
                topics=[topic],
                handlers=handlers,
                processed=processed,
                producer=runtime.producer,
                max_future_skew=settings.event_max_future_skew,
                client_id=f"{settings.service_name}-{name}",
                after_batch=after_batch,
            )
            setattr(app.state, name, consumer)
            runtime.start_background(consumer.run())

    app = create_service_app(
        settings,
        title="customer-signals — Interactions",
        description=package_doc,
        outbox_collections=[ACTIVITIES, EVENT_BATCHES],
        on_startup=on_startup,
    )
    app.state.batch_limit = InFlightLimit(settings.max_batches_in_flight)
    app.add_middleware(
        BatchAdmission,
        limit=app.state.batch_limit,
        retry_after_s=settings.overload_retry_after_s,
    )
    app.include_router(router)
    return app
