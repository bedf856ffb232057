"""Create the registry's topics and compare the broker's topics with the registry.

Creation is `shared.topics_admin.ensure_topics` (the one way topics are created); this module
adds the comparison behind `topics verify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.topics import TopicSpec
from shared.topics_admin import ensure_topics

__all__ = ["Difference", "TopicLayout", "create_topics", "describe_topics", "verify_topics"]

_UNKNOWN_TOPIC = 3


@dataclass(frozen=True)
class Difference:
    """One way a topic on the broker differs from its declaration."""

    topic: str
    setting: str
    expected: str
    actual: str


@dataclass(frozen=True)
class TopicLayout:
    """What the broker says about one topic (None when it does not exist)."""

    partitions: int
    replication_factor: int
    config: dict[str, str]


async def create_topics(
    bootstrap_servers: str,
    topics: tuple[TopicSpec, ...],
    *,
    partitions: int,
    replication_factor: int,
) -> tuple[list[str], list[str]]:
    """Create the missing topics; (names created, names that already existed)."""
    created = await ensure_topics(
        bootstrap_servers, topics, partitions=partitions, replication_factor=replication_factor
    )
    return created, [t.name for t in topics if t.name not in created]


async def describe_topics(
    bootstrap_servers: str, names: list[str]
) -> dict[str, TopicLayout | None]:
    """Partitions, replication factor and topic-level configuration of each named topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        present = [name for name in names if name in existing]
        layouts: dict[str, TopicLayout | None] = {name: None for name in names}
        if not present:
            return layouts
        configs = _configs(
            await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
            )
        )
        for topic in await admin.describe_topics(present):
            if topic["error_code"] == _UNKNOWN_TOPIC:
                continue  # deleted between the listing and the description
            partitions = topic["partitions"]
            layouts[topic["topic"]] = TopicLayout(
                partitions=len(partitions),
                replication_factor=min((len(p["replicas"]) for p in partitions), default=0),
                config=configs.get(topic["topic"], {}),
            )
        return layouts
    finally:
        await admin.close()


def _configs(responses: list[Any]) -> dict[str, dict[str, str]]:
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                continue
            configs[resource["resource_name"]] = {
                # aiokafka's schema names the field `config_names` although it holds one name.
                entry["config_names"]: entry["config_value"]
                for entry in resource["config_entries"]
            }
    return configs


def compare(
    spec: TopicSpec,
    layout: TopicLayout | None,
    *,
    partitions: int,
    replication_factor: int,
) -> list[Difference]:
    """How `layout` differs from `spec` laid out with the configured partitions/replication."""
    if layout is None:
        return [Difference(spec.name, "exists", "yes", "no")]
    found: list[Difference] = []
    if layout.partitions != partitions:
        found.append(Difference(spec.name, "partitions", str(partitions), str(layout.partitions)))
    if layout.replication_factor != replication_factor:
        found.append(
            Difference(
                spec.name,
                "replication factor",
                str(replication_factor),
                str(layout.replication_factor),
            )
        )
    # Every key the registry sets (cleanup.policy and retention for all topics, the compaction
    # settings for compacted ones) must hold the registry's value on the broker.
    for key, value in spec.config().items():
        actual = layout.config.get(key)
        if actual != value:
            found.append(Difference(spec.name, key, value, "(unset)" if actual is None else actual))
    return found


async def verify_topics(
    bootstrap_servers: str,
    topics: tuple[TopicSpec, ...],
    *,
    partitions: int,
    replication_factor: int,
) -> list[Difference]:
    """Every difference between the broker's topics and `topics`; empty when they match."""
    layouts = await describe_topics(bootstrap_servers, [t.name for t in topics])
    return [
        difference
        for spec in topics
        for difference in compare(
            spec,
            layouts[spec.name],
            partitions=partitions,
            replication_factor=replication_factor,
        )
    ]
