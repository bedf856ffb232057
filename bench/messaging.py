"""Messaging benchmark: the toolkit's consume and relay paths against raw aiokafka.

    python -m bench messaging [--quick] [--messages N]

Prints, from one run on the same topic and message size:
- consume+decode+validate+dedupe+dispatch rate (EventConsumer) / raw aiokafka consume rate
  (target ≥ 0.7×);
- outbox relay publish rate (Mongo claim → produce → ack → remove) / raw aiokafka produce rate.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import Rate, Row, Timer, bench_topic, connection, drop_topics
from shared.consumer import EventConsumer, ProcessedEvents
from shared.events import Event, KafkaRecord, encode, new_event
from shared.events.interaction import OrderLine, OrderPlaced
from shared.mongo import connect, database
from shared.outbox import OutboxRelay, ensure_outbox_index, new_document_with_events
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import TopicSpec


def sample_event(n: int) -> Event[OrderPlaced]:
    return new_event(
        OrderPlaced(
            order_id=f"SO-{n}",
            lines=(
                OrderLine(
                    product_code="AER-65x158",
                    segment="insecticide_aerosol",
                    quantity=Decimal(20000),
                    unit_price=Decimal("0.86"),
                ),
            ),
            amount=Decimal("17200.00"),
        ),
        subject=f"C-{n % 5000:05d}",
        source="/bench/messaging",
        time=datetime.now(UTC),
        actor="bench",
    )


async def raw_produce(settings: ConnectionSettings, topic: str, records: list[KafkaRecord]) -> Rate:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        with Timer() as timer:
            futures = [
                await producer.send(topic, r.value, key=r.key, headers=list(r.headers))
                for r in records
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return Rate("raw aiokafka produce (idempotent, acks=all)", len(records), timer.seconds)


async def raw_consume(settings: ConnectionSettings, topic: str, expected: int) -> Rate:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    count = 0
    try:
        with Timer() as timer:
            while count < expected:
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for batch in batches.values():
                    count += len(batch)
                await consumer.commit()
    finally:
        await consumer.stop()
    return Rate("raw aiokafka consume (+commit per batch)", count, timer.seconds)


async def toolkit_consume(settings: ConnectionSettings, topic: str, expected: int) -> Rate:
    client = connect(settings)
    processed = ProcessedEvents(database(client, settings, "bench")["processed_events"])
    handled = 0
    done = asyncio.Event()

    async def count(event: Event[Any]) -> None:
        nonlocal handled
        handled += 1
        if handled >= expected:
            done.set()

    producer = EventProducer(settings, client_id="bench-dlq")
    consumer = EventConsumer(
        settings,
        group_id=f"bench-toolkit-{uuid.uuid4().hex[:6]}",
        topics=[TopicSpec(topic, "bench")],
        handlers={"crm.order.placed.v1": count},
        processed=processed,
        producer=producer,
    )
    await consumer.start()
    try:
        with Timer() as timer:
            task = asyncio.create_task(consumer.run())
            await done.wait()
        consumer.stop()
        await task
    finally:
        await producer.stop()
        await client.close()
    return Rate("EventConsumer (decode+validate+dedupe+dispatch)", handled, timer.seconds)


async def relay_publish(settings: ConnectionSettings, events: list[Event[Any]]) -> Rate:
    client = connect(settings)
    collection = database(client, settings, "bench")[f"outbox_{uuid.uuid4().hex[:6]}"]
    await ensure_outbox_index(collection)
    now = datetime.now(UTC)
    # One document per aggregate, a few events each, as the services write them.
    per_doc = 4
    docs = [
        new_document_with_events({"_id": f"agg-{i}"}, events[i : i + per_doc], queued_at=now)
        for i in range(0, len(events), per_doc)
    ]
    for start in range(0, len(docs), 1000):
        await collection.insert_many(docs[start : start + 1000])
    producer = EventProducer(settings, client_id="bench-relay")
    await producer.start()
    relay = OutboxRelay([collection], producer, relay_id="bench", batch_size=500)
    published = 0
    try:
        with Timer() as timer:
            while published < len(events):
                published += (await relay.relay_once()).published
    finally:
        await producer.stop()
        await collection.drop()
        await client.close()
    return Rate("outbox relay (claim+produce+ack+remove)", published, timer.seconds)


async def run(messages: int) -> list[Row]:
    settings = await connection()
    topic = await bench_topic(settings)
    try:
        events = [sample_event(n) for n in range(messages)]
        records = [encode(e) for e in events]
        size = sum(len(r.value) + sum(len(k) + len(v) for k, v in r.headers) for r in records)
        print(f"{messages} messages of {size / messages:.0f} bytes (value + headers) on {topic}")

        produced = await raw_produce(settings, topic, records)
        print(produced.line())
        consumed = await raw_consume(settings, topic, messages)
        print(consumed.line())
        toolkit = await toolkit_consume(settings, topic, messages)
        print(toolkit.line(consumed))
        relayed = await relay_publish(settings, [sample_event(n) for n in range(messages)])
        print(relayed.line(produced))
        verdict = "meets" if toolkit.per_second >= 0.7 * consumed.per_second else "misses"
        print(f"consume path {verdict} the 0.7x target")
        return [
            Row(
                "messaging",
                "EventConsumer vs raw consume",
                f"{toolkit.per_second:,.0f} /s ({toolkit.per_second / consumed.per_second:.2f}x)",
                ">= 0.7x raw",
            ),
            Row(
                "messaging",
                "outbox relay vs raw produce",
                f"{relayed.per_second:,.0f} /s ({relayed.per_second / produced.per_second:.2f}x)",
            ),
        ]
    finally:
        await drop_topics(settings, [topic])
