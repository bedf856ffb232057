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
    survey_base_url: str = Field(
        default="http://127.0.0.1:8003/v1/surveys",
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="Public base URL of survey links sent to customers; the token is appended "
        "as one more path segment (a survey page in front of GET/POST /v1/surveys/{token}, "
        "or this API itself)",
    )
    survey_valid_days: float = Field(
        default=30.0, gt=0, description="Days a survey link can be answered (410 Gone after)"
    )
    customers_enabled: bool = Field(
        default=True,
        description="Consume crm.customer.v1 in this process (merged and erased customers)",
    )
    merge_erase_group_id: str = Field(
        default="complaint-merge-erase",
        # Not `customers_group_id`: the interaction service reads that name, and one shared
        # value would make both services one consumer group, each seeing half the events.
        description="Consumer group of the merge/erasure consumer (crm.customer.v1)",
    )

    @property
    def reopen_window(self) -> timedelta:
        return timedelta(days=self.reopen_window_days)

    @property
    def survey_valid_for(self) -> timedelta:
        return timedelta(days=self.survey_valid_days)

    def survey_link(self, token: str) -> str:
        return f"{self.survey_base_url}/{token}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
