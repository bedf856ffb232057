"""The interaction service's FastAPI application (composition root)."""

from __future__ import annotations

from fastapi import FastAPI

from services import interaction
from services.interaction.settings import Settings, get_settings
from shared.service import create_service_app

package_doc = interaction.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="customer-signals — Interactions",
        description=package_doc,
    )
