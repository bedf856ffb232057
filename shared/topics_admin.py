"""Create the product's topics from the registry (`python -m shared.topics_admin create`).

Used by the local stack, the docker-compose one-shot and the Kubernetes Job, so topics are
always created the same way and never by the broker's auto-create.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.settings import ConnectionSettings
from shared.topics import TopicSpec, all_topics

_TOPIC_ALREADY_EXISTS = 36


class TopicCreationError(Exception):
    """The broker refused to create some topics; the message lists them with its reasons."""


async def ensure_topics(
    bootstrap_servers: str,
    topics: tuple[TopicSpec, ...],
    *,
    partitions: int,
    replication_factor: int,
) -> list[str]:
    """Create the topics that are missing; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(t.name, partitions, replication_factor, topic_configs=t.config())
            for t in missing
        ]
        response = await admin.create_topics(new, timeout_ms=30000)
        failures = [
            f"{name}: {message or error_code}"
            for name, error_code, message in _topic_errors(response)
            # Already existing means a concurrent creator got there first: the outcome we want.
            if error_code not in (0, _TOPIC_ALREADY_EXISTS)
        ]
        if failures:
            raise TopicCreationError("; ".join(failures))
        return [t.name for t in missing]
    finally:
        await admin.close()


def _topic_errors(response: Any) -> list[tuple[str, int, str]]:
    topics = response.to_object()["topic_errors"]
    return [(t["topic"], t["error_code"], t.get("error_message") or "") for t in topics]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.topics_admin", description=__doc__)
    parser.add_argument("command", choices=["create", "list"])
    args = parser.parse_args(argv)
    settings = ConnectionSettings()
    if args.command == "list":
        for topic in all_topics():
            print(f"{topic.name:<36} {topic.cleanup_policy:<8} {topic.config()}")
        return 0
    try:
        created = asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                all_topics(),
                partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
            )
        )
    except TopicCreationError as error:
        print(f"error: creating topics failed — {error}", file=sys.stderr)
        return 1
    print(f"created {len(created)} topics" if created else "all topics exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
