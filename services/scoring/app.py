"""The scoring service's FastAPI application (composition root): the read API over the scores
the Faust worker (services/scoring/worker.py) writes."""

from __future__ import annotations

from fastapi import FastAPI

from services import scoring
from services.scoring import metrics
from services.scoring.api.routes import router
from services.scoring.settings import Settings, get_settings
from shared.service import Runtime, create_service_app

package_doc = scoring.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def on_startup(runtime: Runtime) -> None:
        if settings.band_metrics_interval_s > 0:
            runtime.run_every(
                settings.band_metrics_interval_s,
                lambda: metrics.observe_churn_bands(runtime.database),
                name="churn band metrics",
            )

    app = create_service_app(
        settings,
        title="customer-signals — Scores",
        description=package_doc,
        on_startup=on_startup,
    )
    app.include_router(router)
    return app
