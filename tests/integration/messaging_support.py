"""Helpers for messaging tests: read what arrived on a topic after a point in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.settings import ConnectionSettings
from shared.topics import TopicSpec
from tests.conftest import unique


class TopicTail:
    """Everything written to a topic after `mark()`, read without a consumer group."""

    def __init__(self, settings: ConnectionSettings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.start_offsets: dict[TopicPartition, int] = {}

    async def mark(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await consumer.start()
        try:
            partitions = [
                TopicPartition(self.topic, p)
                for p in sorted(consumer.partitions_for_topic(self.topic) or [])
            ] or await self._partitions(consumer)
            self.start_offsets = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer._client.force_metadata_update()
        return [
            TopicPartition(self.topic, p)
            for p in sorted(consumer.partitions_for_topic(self.topic) or [])
        ]

    async def read(
        self,
        until: Callable[[list[ConsumerRecord]], bool],
        *,
        timeout: float = 30.0,
        keep: Callable[[ConsumerRecord], bool] = lambda record: True,
    ) -> list[ConsumerRecord]:
        """Records after the mark (filtered by `keep`) once `until` holds; fails on timeout."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        records: list[ConsumerRecord] = []
        try:
            consumer.assign(list(self.start_offsets))
            for tp, offset in self.start_offsets.items():
                consumer.seek(tp, offset)
            deadline = time.monotonic() + timeout
            while not until(records):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{self.topic}: condition not met after {timeout}s; got {len(records)}"
                    )
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(r for r in batch if keep(r))
        finally:
            await consumer.stop()
        return records


async def create_test_topic(settings: ConnectionSettings, *, partitions: int = 3) -> TopicSpec:
    """A fresh topic and its DLQ, for consumer tests that must not share product topics."""
    spec = TopicSpec(unique("test.events"), "test topic")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(spec.name, partitions, 1), NewTopic(spec.dlq.name, partitions, 1)]
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.5)  # let the new partitions get leaders before producing
    return spec


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return bytes(value).decode()
    return None


async def wait_until_assigned(
    connection: ConnectionSettings, group: str, *, members: int = 1, exactly: bool = False
) -> None:
    """Until `group` is Stable with (at least, or `exactly`) `members` members: a consumer
    starting at "latest" has fixed its offsets only then, and would skip what is produced
    before."""
    admin = AIOKafkaAdminClient(bootstrap_servers=connection.kafka_bootstrap_servers)
    await admin.start()
    try:
        async with asyncio.timeout(60):
            while True:
                described = await admin.describe_consumer_groups([group])
                state = described[0].to_object()["groups"][0]
                count = len(state["members"])
                if state["state"] == "Stable" and (
                    count == members if exactly else count >= members
                ):
                    await asyncio.sleep(2)  # offsets are resolved right after assignment
                    return
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def group_at_end(connection: ConnectionSettings, *topics: TopicSpec) -> str:
    """A new consumer group whose committed offsets are the topics' current ends.

    Own group per test: another test session running at the same time cannot take our
    partitions, and old messages (earlier runs' poison included) are not read again.
    """
    group = unique("test-group")
    offsets: dict[TopicPartition, int] = {}
    for topic in topics:
        tail = TopicTail(connection, topic.name)
        await tail.mark()
        assert tail.start_offsets, f"{topic.name} does not exist"
        offsets |= tail.start_offsets
    consumer = AIOKafkaConsumer(
        bootstrap_servers=connection.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()
    return group
