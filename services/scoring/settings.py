"""Settings of the scoring service (environment variables with the CRM_ prefix)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field

from shared.service import ServiceSettings


class Settings(ServiceSettings):
    """Everything the scoring service reads from its environment."""

    service_name: str = "scoring"
    http_port: int = Field(default=8004, ge=1, le=65535, description="Port of the HTTP API")
    database: str = Field(default="crm_scoring", description="The service's own Mongo database")
    faust_app_id: str = Field(
        default="crm-scoring", description="Faust app id: consumer group and changelog prefix"
    )
    faust_store: str = Field(
        default="memory://",
        description=(
            "Table store: memory:// (rebuilt from the changelog on start) or rocksdb:// "
            "(on disk under faust_data_dir; give it a persistent volume, docs/deploying.md)"
        ),
    )
    faust_web_port: int = Field(
        default=6066, ge=1, le=65535, description="Port of the Faust worker's web server"
    )
    faust_data_dir: str = Field(
        default="/tmp/crm-scoring",
        description="Where the worker keeps RocksDB tables (in a directory per app id)",
    )
    faust_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a new consumer group starts: earliest rebuilds every score by replay",
    )
    faust_session_timeout_s: float = Field(
        default=60.0,
        ge=6,
        description="How long the broker waits for a silent worker before giving its "
        "partitions to the others (a killed worker's customers wait this long)",
    )
    sweep_interval_s: float = Field(
        default=60.0, gt=0, description="How often the worker rescores customers due a review"
    )
    # A batch is what arrives within `batch_wait_s` (Faust's `take_events`; it fills at about
    # 20,000 events/s here). Behind a backlog, a longer wait gathers more of a customer's events
    # into one score and one write, which is what lets the scorer catch up: at 2,000 order
    # events/s over 2,000 customers, batches of 0.1 s (at most 2,000 events) fell further
    # behind for the whole minute (p99 111 s) and 0.3 s batches (~5,800 events) nearly kept up
    # (p99 11 s; docs/benchmarks.md). When traffic is light, the wait is the most a score is
    # delayed.
    batch_size: int = Field(
        default=10_000,
        ge=1,
        description="Most events the scorer folds before storing and publishing (one score per "
        "customer per batch)",
    )
    batch_wait_s: float = Field(
        default=0.3,
        gt=0,
        description="How long a batch fills: the most latency coalescing adds when traffic is "
        "light; longer batches coalesce more under load",
    )
    history_resolution_s: float = Field(
        default=86400.0,
        gt=0,
        description="Within one batch, a customer gets at most one score per this much event "
        "time (a replayed history keeps one point per day; live traffic gets one per batch)",
    )
    band_metrics_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="How often the read API recounts customers per churn band for /metrics "
        "(a full read of the latest scores; 0 = never)",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use (tests clear the cache)."""
    return Settings()
