"""The customer service's FastAPI application (composition root)."""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure

from services import customer
from services.customer.account_store import AccountStore
from services.customer.api.auth import (
    accounts_router,
    auth_router,
    ensure_bootstrap_admin,
    keys_router,
)
from services.customer.api.routes import router
from services.customer.api.transfer import router as transfer_router
from services.customer.api.view360 import router as view360_router
from services.customer.console import mount_console
from services.customer.settings import Settings, get_settings
from services.customer.store import CUSTOMERS, CustomerStore
from services.customer.view360 import PROCESSED, View360Store, view360_handlers
from shared.consumer import EventConsumer, ProcessedEvents
from shared.events import utc_now
from shared.service import Runtime, create_service_app
from shared.topics import COMPLAINT, CUSTOMER, INTERACTION, SCORES

package_doc = customer.__doc__ or ""
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app: FastAPI

    async def on_startup(runtime: Runtime) -> None:
        store = CustomerStore(runtime.database, notify=runtime.relay.notify)
        views = View360Store(runtime.database, activity_limit=settings.view360_activity_limit)
        with contextlib.suppress(ConnectionFailure):  # Mongo away: created on a later start
            await store.ensure_indexes()
            await views.ensure_indexes()
        app.state.customers = store
        accounts = AccountStore(runtime.database)
        app.state.accounts = accounts
        with contextlib.suppress(ConnectionFailure):
            await accounts.ensure_indexes()
            if await ensure_bootstrap_admin(accounts, settings):
                log.info(
                    "created the bootstrap administrator %r", settings.auth_bootstrap_admin_username
                )
        app.state.views = views
        app.state.view360 = None
        if settings.audit_move_interval_s > 0:
            runtime.run_every(settings.audit_move_interval_s, store.move_audit, name="audit mover")
        if settings.view360_enabled:
            processed = ProcessedEvents(runtime.database[PROCESSED])
            with contextlib.suppress(ConnectionFailure):
                await processed.ensure_indexes()
            consumer = EventConsumer(
                settings,
                group_id=settings.view360_group_id,
                topics=[SCORES, INTERACTION, COMPLAINT, CUSTOMER],
                handlers=view360_handlers(views, clock=utc_now),
                processed=processed,
                producer=runtime.producer,
                on_tombstone=views.drop_score,
                max_future_skew=settings.event_max_future_skew,
                client_id=f"{settings.service_name}-360",
            )
            app.state.view360 = consumer
            runtime.start_background(consumer.run())

    app = create_service_app(
        settings,
        title="customer-signals — Customer archive",
        description=package_doc,
        outbox_collections=[CUSTOMERS],
        on_startup=on_startup,
    )
    app.include_router(auth_router)
    app.include_router(accounts_router)
    app.include_router(keys_router)
    app.include_router(transfer_router)
    app.include_router(router)
    app.include_router(view360_router)
    if settings.console_enabled:
        mount_console(app)
    return app
