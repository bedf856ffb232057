"""The complaint service's FastAPI application (composition root)."""

from __future__ import annotations

from fastapi import FastAPI

from services import complaint
from services.complaint.api.routes import router
from services.complaint.breaches import check_breaches
from services.complaint.records import COMPLAINTS
from services.complaint.settings import Settings, get_settings
from services.complaint.store import ComplaintStore
from shared.events import utc_now
from shared.service import Runtime, create_service_app

package_doc = complaint.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app: FastAPI

    async def on_startup(runtime: Runtime) -> None:
        store = ComplaintStore(runtime.database, notify=runtime.relay.notify)
        app.state.complaints = store
        if settings.sla_check_interval_s > 0:
            runtime.run_every(
                settings.sla_check_interval_s,
                lambda: check_breaches(store, now=utc_now()),
                name="SLA breach check",
            )

    app = create_service_app(
        settings,
        title="customer-signals — Complaints",
        description=package_doc,
        outbox_collections=[COMPLAINTS],
        on_startup=on_startup,
    )
    app.include_router(router)
    return app
