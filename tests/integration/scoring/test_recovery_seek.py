"""The scorer's recovery puts every stream partition back at the group's committed offset
before it resumes it, on the real broker — including a committed offset of 0, which aiokafka's
own `seek_to_committed` leaves alone (a worker once started hundreds of messages past it and,
once it committed, skipped them for good; tables.SeekFirstRecovery tells the story)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP

from services.scoring.tables import place_at_committed, resume_fetching
from shared.settings import ConnectionSettings
from tests.conftest import unique

MESSAGES = 40  # per partition


@dataclass
class ConsumerThread:
    """The two things the recovery asks of Faust's consumer thread, around a real consumer."""

    kafka: AIOKafkaConsumer

    def _ensure_consumer(self) -> AIOKafkaConsumer:
        return self.kafka

    async def call_thread(self, fun: Callable[[], Awaitable[Any]]) -> Any:
        return await fun()


@dataclass
class FaustConsumer:
    """The part of Faust's consumer the recovery reads and writes."""

    _thread: ConsumerThread
    _read_offset: dict[Any, int | None] = field(default_factory=lambda: defaultdict(lambda: None))
    _committed_offset: dict[Any, int | None] = field(
        default_factory=lambda: defaultdict(lambda: None)
    )


@pytest.fixture
async def consumed_to_the_end(
    connection: ConnectionSettings, new_topic: str
) -> AsyncIterator[AIOKafkaConsumer]:
    """A group consumer that has read all of a 3-partition topic, with committed offsets 0,
    25 and none."""
    producer = AIOKafkaProducer(bootstrap_servers=connection.kafka_bootstrap_servers)
    await producer.start()
    try:
        for partition in range(3):
            for n in range(MESSAGES):
                await producer.send(new_topic, f"{partition}-{n}".encode(), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=connection.kafka_bootstrap_servers,
        group_id=unique("recovery-seek"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    partitions = [TopicPartition(new_topic, p) for p in range(3)]
    consumer.assign(partitions)
    await consumer.commit({partitions[0]: 0, partitions[1]: 25})
    while [await consumer.position(tp) for tp in partitions] != [MESSAGES] * 3:
        await consumer.getmany(timeout_ms=1000)
    yield consumer
    await consumer.stop()


async def test_partitions_go_back_to_the_committed_offsets_zero_included(
    consumed_to_the_end: AIOKafkaConsumer, new_topic: str
) -> None:
    kafka = consumed_to_the_end
    faust_consumer = FaustConsumer(ConsumerThread(kafka))
    streams = {TP(new_topic, p) for p in range(3)}

    await place_at_committed(faust_consumer, streams, earliest=True)

    positions = [await kafka.position(TopicPartition(new_topic, p)) for p in range(3)]
    assert positions == [0, 25, 0]  # the third has no committed offset: "earliest"
    assert faust_consumer._read_offset == {
        TP(new_topic, 0): None,
        TP(new_topic, 1): 25,
        TP(new_topic, 2): None,
    }
    assert dict(faust_consumer._committed_offset) == {TP(new_topic, 1): 25}

    # Paused until resumed: nothing is handed over that Faust could drop.
    assert await kafka.getmany(timeout_ms=500) == {}
    await resume_fetching(faust_consumer, streams)
    firsts: dict[int, int] = {}
    while len(firsts) < 3:
        for tp, records in (await kafka.getmany(timeout_ms=1000)).items():
            firsts.setdefault(tp.partition, records[0].offset)
    assert firsts == {0: 0, 1: 25, 2: 0}


async def test_without_a_committed_offset_latest_keeps_the_position(
    consumed_to_the_end: AIOKafkaConsumer, new_topic: str
) -> None:
    """ "latest" stays where the partition was put when it was assigned (a client may have
    produced since); only "earliest" moves a partition the group never committed."""
    kafka = consumed_to_the_end
    faust_consumer = FaustConsumer(ConsumerThread(kafka))

    await place_at_committed(faust_consumer, {TP(new_topic, 2)}, earliest=False)

    assert await kafka.position(TopicPartition(new_topic, 2)) == MESSAGES
    assert faust_consumer._read_offset[TP(new_topic, 2)] == MESSAGES
