"""The consumer toolkit on the real broker: poison to the DLQ, dedupe across restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.consumer import EventConsumer, ProcessedEvents
from shared.events import Event, KafkaRecord, encode, new_event
from shared.events.interaction import OrderPlaced
from shared.mongo import MongoClient, database
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import TopicSpec
from tests.conftest import unique
from tests.integration.messaging_support import TopicTail, create_test_topic, header


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-consumer")
    await events.start()
    yield events
    await events.stop()


@pytest.fixture
async def processed(mongo_client: MongoClient, connection: ConnectionSettings) -> ProcessedEvents:
    store = ProcessedEvents(database(mongo_client, connection, "consumer_test")[unique("seen")])
    await store.ensure_indexes()
    return store


def order(customer: str, order_id: str, *, at: datetime | None = None) -> Event[OrderPlaced]:
    return new_event(
        OrderPlaced(order_id=order_id, amount=Decimal("100")),
        subject=customer,
        source="/tests/consumer",
        time=at or datetime.now(UTC),
    )


def on(topic: TopicSpec, event: Event[Any]) -> KafkaRecord:
    record = encode(event)
    return KafkaRecord(topic.name, record.key, record.value, record.headers)


class Recorder:
    """A handler that records what it saw and fails on demand."""

    def __init__(self, fail_on: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.seen: list[str] = []
        self.fail_on = fail_on

    async def __call__(self, event: Event[Any]) -> None:
        if event.data.order_id in self.fail_on:
            raise ValueError(f"cannot book order {event.data.order_id}")
        self.seen.append(event.data.order_id)


async def consume_until(consumer: EventConsumer, done: Any, timeout: float = 30) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.05)
                if task.done():
                    task.result()
    finally:
        consumer.stop()
        await task


async def test_poison_of_each_kind_lands_in_the_dlq_and_good_messages_go_through(
    connection: ConnectionSettings, producer: EventProducer, processed: ProcessedEvents
) -> None:
    topic = await create_test_topic(connection, partitions=1)
    good = order("C-1", "SO-good-1")
    headers = list(encode(good).headers)
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat().encode()
    bad_type = [(k, b"crm.order.teleported.v1" if k == "ce_type" else v) for k, v in headers]
    in_future = [(k, future if k == "ce_time" else v) for k, v in headers]
    poison = [
        KafkaRecord(topic.name, b"C-1", b"\x00\xffnot json at all", ()),
        KafkaRecord(topic.name, b"C-1", b'{"order_id": "SO-x", "amount": "lots"}', tuple(headers)),
        KafkaRecord(topic.name, b"C-1", b"{}", tuple(bad_type)),
        KafkaRecord(topic.name, b"C-1", encode(good).value, tuple(in_future)),
        on(topic, order("C-1", "SO-explodes")),
    ]
    await producer.publish_records([*poison, on(topic, good), on(topic, order("C-1", "SO-good-2"))])

    recorder = Recorder(fail_on={"SO-explodes"})
    consumer = EventConsumer(
        connection,
        group_id=unique("test-group"),
        topics=[topic],
        handlers={"crm.order.placed.v1": recorder},
        processed=processed,
        producer=producer,
        retry_delay=0.01,
    )
    dlq = TopicTail(connection, topic.dlq.name)
    await dlq.mark()
    await consume_until(consumer, lambda: len(recorder.seen) == 2)

    assert recorder.seen == ["SO-good-1", "SO-good-2"]
    letters = await dlq.read(lambda got: len(got) >= 5)
    classes = [header(r, "dlq_error_class") for r in letters]
    assert classes == [
        "undecodable",
        "schema_invalid",
        "unknown_type",
        "event_time_in_future",
        "handler_error",
    ]
    for letter, original in zip(letters, poison, strict=True):
        assert letter.value == original.value and letter.key == original.key
        assert header(letter, "dlq_origin_topic") == topic.name
        assert header(letter, "dlq_origin_partition") == "0"
        assert header(letter, "dlq_origin_offset") is not None
        assert header(letter, "dlq_consumer_group") == consumer.group_id
        assert header(letter, "dlq_reason")
    assert "cannot book order SO-explodes" in (header(letters[-1], "dlq_reason") or "")
    assert header(letters[-1], "dlq_error") == "ValueError"
    assert header(letters[-1], "ce_type") == "crm.order.placed.v1", "original headers kept"


async def test_duplicates_are_dropped_across_consumer_restarts(
    connection: ConnectionSettings, producer: EventProducer, processed: ProcessedEvents
) -> None:
    topic = await create_test_topic(connection)
    group = unique("test-group")
    events = [order(f"C-{n % 4}", f"SO-{n}") for n in range(40)]
    await producer.publish_records([on(topic, e) for e in events])

    first = Recorder()
    consumer = EventConsumer(
        connection,
        group_id=group,
        topics=[topic],
        handlers={"crm.order.placed.v1": first},
        processed=processed,
        producer=producer,
    )
    await consume_until(consumer, lambda: len(first.seen) == 40)

    # The same events again (a relay re-published them), plus new ones, to a new instance.
    fresh = [order("C-9", f"SO-new-{n}") for n in range(5)]
    await producer.publish_records([on(topic, e) for e in [*events, *fresh]])
    second = Recorder()
    restarted = EventConsumer(
        connection,
        group_id=group,
        topics=[topic],
        handlers={"crm.order.placed.v1": second},
        processed=processed,
        producer=producer,
    )
    # Until both the fresh events and the repeats were seen: they lie on different
    # partitions, so either may come first (on a loaded machine the repeats came last).
    await consume_until(
        restarted, lambda: len(second.seen) >= 5 and restarted.stats.duplicates >= 40
    )
    assert sorted(second.seen) == sorted(e.data.order_id for e in fresh)
    assert restarted.stats.duplicates == 40
    assert sorted(first.seen) == sorted(e.data.order_id for e in events)


async def test_structured_mode_from_an_external_producer_is_consumed(
    connection: ConnectionSettings, producer: EventProducer, processed: ProcessedEvents
) -> None:
    topic = await create_test_topic(connection, partitions=1)
    envelope = {
        "specversion": "1.0",
        "id": unique("ext"),
        "source": "cti://pbx",
        "type": "crm.order.placed.v1",
        "time": "2025-01-02T03:04:05Z",
        "subject": "C-77",
        "data": {"order_id": "SO-ext", "amount": "99.50", "currency": "CNY"},
    }
    await producer.publish_records(
        [
            KafkaRecord(
                topic.name,
                b"C-77",
                json.dumps(envelope).encode(),
                (("content-type", b"application/cloudevents+json"),),
            )
        ]
    )
    recorder = Recorder()
    consumer = EventConsumer(
        connection,
        group_id=unique("test-group"),
        topics=[topic],
        handlers={"crm.order.placed.v1": recorder},
        processed=processed,
        producer=producer,
    )
    await consume_until(consumer, lambda: recorder.seen == ["SO-ext"])


async def test_dead_letters_can_be_inspected_and_replayed_once_the_cause_is_fixed(
    connection: ConnectionSettings, producer: EventProducer, processed: ProcessedEvents
) -> None:
    from shared.dlq import inspect_dead_letters, replay_dead_letters

    topic = await create_test_topic(connection, partitions=1)
    group = unique("test-group")
    broken = Recorder(fail_on={"SO-1", "SO-2"})
    await producer.publish_records([on(topic, order("C-1", f"SO-{n}")) for n in range(4)])
    consumer = EventConsumer(
        connection,
        group_id=group,
        topics=[topic],
        handlers={"crm.order.placed.v1": broken},
        processed=processed,
        producer=producer,
        retry_delay=0.01,
    )
    await consume_until(consumer, lambda: len(broken.seen) == 2)
    await asyncio.sleep(0.5)

    letters = await inspect_dead_letters(connection, topic.dlq.name)
    assert [letter.summary()["error_class"] for letter in letters] == ["handler_error"] * 2
    assert {letter.headers["ce_type"] for letter in letters} == {"crm.order.placed.v1"}

    report = await replay_dead_letters(connection, topic.dlq.name)
    assert report.replayed == 2 and report.by_origin == {topic.name: 2}
    again = await replay_dead_letters(connection, topic.dlq.name)
    assert again.replayed == 0, "a second replay publishes nothing twice"

    fixed = Recorder()
    consumer = EventConsumer(
        connection,
        group_id=group,
        topics=[topic],
        handlers={"crm.order.placed.v1": fixed},
        processed=processed,
        producer=producer,
    )
    await consume_until(consumer, lambda: sorted(fixed.seen) == ["SO-1", "SO-2"])
