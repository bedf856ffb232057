"""Settings of the customer service (environment variables with the CRM_ prefix)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr

from shared.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the customer service reads from its environment."""

    service_name: str = "customer"
    http_port: int = Field(default=8001, ge=1, le=65535, description="Port of the HTTP API")
    database: str = Field(default="crm_customer", description="The service's own Mongo database")
    audit_move_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="How often pending audit entries move to customer_audit (0 = never)",
    )
    view360_enabled: bool = Field(
        default=True,
        description="Consume scores, interactions, complaints and customer events into the "
        "customer 360 read models in this process",
    )
    view360_group_id: str = Field(
        default="customer-360", description="Consumer group of the customer 360 read models"
    )
    auth_bootstrap_admin_username: str = Field(
        default="admin", description="The first administrator, created when there is no account"
    )
    auth_bootstrap_admin_password: SecretStr | None = Field(
        default=None, description="Its password (a Secret); no bootstrap admin when unset"
    )
    auth_max_failed_logins: int = Field(
        default=5, ge=1, description="Wrong passwords in a row before the account is locked"
    )
    auth_lockout_s: float = Field(default=300.0, ge=0, description="How long a lock-out lasts")
    view360_activity_limit: int = Field(
        default=20, ge=1, le=200, description="Recent interactions and orders kept per customer"
    )
    console_enabled: bool = Field(
        default=True, description="Serve the web console under /console/ (docs/console.md)"
    )
    console_customer_url: str | None = Field(
        default=None,
        description="Base URL the console calls for the customer API; default this process "
        "(http://127.0.0.1:<http_port>)",
    )
    console_interaction_url: str = Field(
        default="http://127.0.0.1:8002", description="Base URL of the interaction service's API"
    )
    console_complaint_url: str = Field(
        default="http://127.0.0.1:8003", description="Base URL of the complaint service's API"
    )
    console_scoring_url: str = Field(
        default="http://127.0.0.1:8004", description="Base URL of the scoring read API"
    )
    console_poll_s: float = Field(
        default=5.0, ge=1, description="How often live console views (at-risk, 360) refresh"
    )
    console_time_zone: str = Field(
        default="Asia/Shanghai", description="Time zone the console shows times in"
    )
    console_cookie_secure: bool = Field(
        default=False,
        description="Mark the console's session cookies Secure (set when served over HTTPS)",
    )

    @property
    def console_customer_base_url(self) -> str:
        """Where the console reaches this service's own API (over HTTP, like any client)."""
        return self.console_customer_url or f"http://127.0.0.1:{self.http_port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
