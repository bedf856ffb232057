"""Settings of the complaint service (environment variables with the CRM_ prefix)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from shared.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the complaint service reads from its environment."""

    service_name: str = "complaint"
    http_port: int = Field(default=8003, ge=1, le=65535, description="Port of the HTTP API")
    database: str = Field(default="crm_complaint", description="The service's own Mongo database")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
