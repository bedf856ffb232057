"""The customer service's FastAPI application (composition root)."""

from __future__ import annotations

from fastapi import FastAPI

from services import customer
from services.customer.settings import Settings, get_settings
from shared.service import create_service_app

package_doc = customer.__doc__ or ""


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="customer-signals — Customer archive",
        description=package_doc,
    )
