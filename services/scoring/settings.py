"""Settings of the scoring service (environment variables with the CRM_ prefix)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from shared.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the scoring service reads from its environment."""

    service_name: str = "scoring"
    http_port: int = Field(default=8004, ge=1, le=65535, description="Port of the HTTP API")
    database: str = Field(default="crm_scoring", description="The service's own Mongo database")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
