"""Connection settings shared by every service, read from environment variables.

Every service has its own ``Settings`` class that extends :class:`ConnectionSettings`; the
same variable names are used by the local stack, docker-compose and the Kubernetes manifests.
Settings are built once at start-up by the composition root, never at import time.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CRM_"


class ConnectionSettings(BaseSettings):
    """Where Kafka and MongoDB are, and how topics are laid out."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers"
    )
    mongo_url: str = Field(
        default="mongodb://127.0.0.1:27017/", description="MongoDB connection string"
    )
    mongo_database_prefix: str = Field(
        default="",
        description="Prefix for every database name (tests use it to stay apart from demo data)",
    )
    topic_partitions: int = Field(default=12, ge=1, description="Partitions of every topic")
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of every topic (3 in production)"
    )


def env_names(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variable names a settings class reads (for compose/k8s parity checks)."""
    prefix = settings_class.model_config.get("env_prefix", "") or ""
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}
