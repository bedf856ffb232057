"""The customer service's FastAPI application (composition root)."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from pymongo.errors import ConnectionFailure

from services import customer
from services.customer.api.routes import router
from services.customer.settings import Settings, get_settings
from services.customer.store import CUSTOMERS, CustomerStore, run_audit_mover
from shared.service import Runtime, create_service_app

package_doc = customer.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app: FastAPI

    async def on_startup(runtime: Runtime) -> None:
        store = CustomerStore(runtime.database, notify=runtime.relay.notify)
        with contextlib.suppress(ConnectionFailure):  # Mongo away: created on a later start
            await store.ensure_indexes()
        app.state.customers = store
        if settings.audit_move_interval_s > 0:
            runtime.start_background(
                run_audit_mover(store, interval_s=settings.audit_move_interval_s)
            )

    app = create_service_app(
        settings,
        title="customer-signals — Customer archive",
        description=package_doc,
        outbox_collections=[CUSTOMERS],
        on_startup=on_startup,
    )
    app.include_router(router)
    return app
