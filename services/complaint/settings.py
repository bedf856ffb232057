"""Settings of the complaint service (environment variables with the CRM_ prefix)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import Field

from shared.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the complaint service reads from its environment."""

    service_name: str = "complaint"
    http_port: int = Field(default=8003, ge=1, le=65535, description="Port of the HTTP API")
    database: str = Field(default="crm_complaint", description="The service's own Mongo database")
    sla_check_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="Seconds between SLA breach checks; 0 turns the background check off",
    )
    reopen_window_days: float = Field(
        default=30.0, ge=0, description="How long a resolved or closed complaint can be reopened"
    )

    @property
    def reopen_window(self) -> timedelta:
        return timedelta(days=self.reopen_window_days)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
