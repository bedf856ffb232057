"""The complaint service's FastAPI application (composition root)."""

from __future__ import annotations

from fastapi import FastAPI

from services import complaint
from services.complaint.settings import Settings, get_settings
from shared.service import create_service_app

package_doc = complaint.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="customer-signals — Complaints",
        description=package_doc,
    )
