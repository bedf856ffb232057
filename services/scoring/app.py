"""The scoring service's FastAPI application (composition root): the read API over the scores
the Faust worker (services/scoring/worker.py) writes."""

from __future__ import annotations

from fastapi import FastAPI

from services import scoring
from services.scoring.api.routes import router
from services.scoring.settings import Settings, get_settings
from shared.service import create_service_app

package_doc = scoring.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        settings or get_settings(),
        title="customer-signals — Scores",
        description=package_doc,
    )
    app.include_router(router)
    return app
