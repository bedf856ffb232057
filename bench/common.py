"""Shared bits of the benchmarks: the stack, timing, and printing ratios."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.mongo import connect
from shared.settings import ConnectionSettings
from shared.stack import Stack, StackSettings


async def connection() -> ConnectionSettings:
    """Bring the local stack up (or reuse it) and point at it with a bench-only db prefix."""
    stack = Stack(StackSettings())
    await asyncio.to_thread(stack.up)
    return ConnectionSettings(
        kafka_bootstrap_servers=stack.settings.bootstrap_servers,
        mongo_url=stack.settings.mongo_url,
        mongo_database_prefix=f"bench{uuid.uuid4().hex[:6]}_",
    )


def service_env(settings: ConnectionSettings, **extra: str) -> dict[str, str]:
    """The environment of a service process under benchmark: the bench's stack and databases,
    plus `extra` (service settings, e.g. CRM_INGEST_ENABLED)."""
    return {
        "CRM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CRM_MONGO_URL": settings.mongo_url,
        "CRM_MONGO_DATABASE_PREFIX": settings.mongo_database_prefix,
        **extra,
    }


async def bench_topic(settings: ConnectionSettings, partitions: int = 12) -> str:
    name = f"bench.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def drop_topics(settings: ConnectionSettings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


@dataclass
class Rate:
    what: str
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")

    def line(self, baseline: Rate | None = None) -> str:
        text = f"{self.what:<48} {self.per_second:>12,.0f} /s"
        text += f"  ({self.count} in {self.seconds:.2f}s)"
        if baseline is not None:
            text += f"   ratio {self.per_second / baseline.per_second:.2f}x of {baseline.what}"
        return text


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


@dataclass(frozen=True)
class Row:
    """One line of the summary table of `python -m bench all`."""

    benchmark: str
    what: str
    figure: str
    target: str = ""


async def drop_databases(settings: ConnectionSettings) -> None:
    """Drop every database of this bench run (its own prefix)."""
    client = connect(settings)
    try:
        for name in await client.list_database_names():
            if name.startswith(settings.mongo_database_prefix):
                await client.drop_database(name)
    finally:
        await client.close()


async def watch_from_end(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Start `consumer` on every partition of `topic` at its current end, the end offsets
    resolved before anything is sent (so it counts only what the benchmark produces)."""
    await consumer.start()
    await consumer._client.force_metadata_update()  # partitions_for_topic needs it
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        raise RuntimeError(f"{topic} does not exist: python -m shared.stack up")
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)
