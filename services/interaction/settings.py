"""Settings of the interaction service (environment variables with the CRM_ prefix)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import Field

from shared.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the interaction service reads from its environment."""

    service_name: str = "interaction"
    http_port: int = Field(default=8002, ge=1, le=65535, description="Port of the HTTP API")
    database: str = Field(default="crm_interaction", description="The service's own Mongo database")
    ingest_enabled: bool = Field(
        default=True, description="Consume the contact-center ingest topic in this process"
    )
    ingest_group_id: str = Field(
        default="interaction-ingest", description="Consumer group of the ingest consumer"
    )
    customers_group_id: str = Field(
        default="interaction-customers",
        description="Consumer group of the customer-reference read model (crm.customer.v1)",
    )
    max_batch_items: int = Field(
        default=1000, ge=1, le=1000, description="Most items one batch request may carry"
    )
    max_batches_in_flight: int = Field(
        default=4,
        ge=0,
        description="Batch requests handled at once; more get 429 with Retry-After",
    )
    overload_retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After (seconds) sent with a 429"
    )
    event_batch_recovery_after_s: float = Field(
        default=120.0,
        gt=0,
        description=(
            "A batch's events still staged this long after it began were cut off by a crash "
            "between storing the facts and releasing their events: they are released then"
        ),
    )

    @property
    def event_batch_recovery_after(self) -> timedelta:
        return timedelta(seconds=self.event_batch_recovery_after_s)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
