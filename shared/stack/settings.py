"""Settings of the local stack (ports, directories, versions), from CRM_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ENV_PREFIX

REPO_ROOT = Path(__file__).resolve().parents[2]


class StackSettings(BaseSettings):
    """Where the local servers listen, keep their state and cache their downloads."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX + "STACK_", extra="ignore")

    state_dir: Path = Field(
        default=REPO_ROOT / ".stack", description="Server data, pid files and logs (git-ignored)"
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "customer-signals",
        description="Downloaded jars and built binaries, shared by every checkout on the machine",
    )
    host: str = "127.0.0.1"
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    mongo_port: int = Field(default=27017, ge=1, le=65535)
    ferretdb_debug_port: int = Field(default=27088, ge=1, le=65535)
    kafka_version: str = "4.3.1"
    ferretdb_version: str = "v1.24.2"
    kafka_heap: str = "1g"
    start_timeout_s: float = 90.0
    topic_partitions: int = Field(default=12, ge=1)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://{self.host}:{self.mongo_port}/"
