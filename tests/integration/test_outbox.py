"""The embedded outbox on the real stack: writes survive a stopped broker, relays lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from shared.events import Event, new_event
from shared.events.interaction import InteractionRecorded
from shared.events.vocabulary import Channel, Direction
from shared.mongo import Collection, MongoClient, database
from shared.outbox import (
    BATCH_ID,
    OUTBOX,
    PENDING,
    STAGED,
    EventBatches,
    OutboxRelay,
    ensure_outbox_index,
    update_with_events,
)
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.stack import Stack
from shared.topics import INTERACTION
from tests.conftest import unique
from tests.integration.messaging_support import TopicTail, header


@pytest.fixture
async def entities(mongo_client: MongoClient, connection: ConnectionSettings) -> Collection:
    collection = database(mongo_client, connection, "outbox_test")[unique("entities")]
    await ensure_outbox_index(collection)
    return collection


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-relay", request_timeout_ms=3000)
    await events.start()
    yield events
    await events.stop()


def contact(customer: str, sequence: int) -> Event[InteractionRecorded]:
    return new_event(
        InteractionRecorded(
            interaction_id=f"{customer}-{sequence}",
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
        ),
        subject=customer,
        source="/tests/outbox",
        time=datetime.now(UTC),
        sequence=sequence,
    )


async def record_contacts(collection: Collection, customers: list[str], per_customer: int) -> None:
    """One atomic write per contact: the customer's counter and its event together."""
    for sequence in range(per_customer):
        for customer in customers:
            await update_with_events(
                collection,
                {"_id": customer},
                {"$inc": {"contacts": 1}},
                [contact(customer, sequence)],
                queued_at=datetime.now(UTC),
                upsert=True,
            )


def ours(prefix: str):  # type: ignore[no-untyped-def]
    return lambda record: record.key is not None and record.key.decode().startswith(prefix)


def first_occurrences(records: list[ConsumerRecord]) -> dict[str, list[int]]:
    """Per key, the sequences in arrival order, dropping repeated event ids (consumer dedupe)."""
    seen: set[str] = set()
    by_key: dict[str, list[int]] = defaultdict(list)
    for record in records:
        event_id = header(record, "ce_id")
        assert event_id is not None
        if event_id in seen:
            continue
        seen.add(event_id)
        by_key[record.key.decode()].append(int(header(record, "ce_sequence") or -1))
    return by_key


async def test_writes_succeed_while_the_broker_is_down_and_arrive_in_order_after(
    stack: Stack,
    connection: ConnectionSettings,
    entities: Collection,
    producer: EventProducer,
) -> None:
    prefix = unique("down")
    customers = [f"{prefix}-{n}" for n in range(3)]
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    relay = OutboxRelay([entities], producer, relay_id="relay-a", poll_interval=0.1)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.to_thread(stack.kafka.process.stop)
        await record_contacts(entities, customers, per_customer=10)  # Mongo only: must succeed
        assert await entities.count_documents({PENDING: {"$gt": 0}}) == 3
        await asyncio.sleep(1.0)  # the relay meets the dead broker and backs off
        await asyncio.to_thread(stack.up)
        records = await tail.read(
            lambda got: len({header(r, "ce_id") for r in got}) >= 30,
            keep=ours(prefix),
            timeout=60,
        )
    finally:
        await asyncio.to_thread(stack.up)
        relay.stop()
        await running

    by_key = first_occurrences(records)
    assert set(by_key) == set(customers)
    for customer in customers:
        assert by_key[customer] == list(range(10)), f"{customer}: out of order"
    assert len({header(r, "ce_id") for r in records}) == 30
    async for doc in entities.find({}):
        assert doc[PENDING] == 0 and doc[OUTBOX] == [], "published events must leave the outbox"


class RelayCrash(Exception):
    pass


def crash() -> None:
    raise RelayCrash("killed between publish and removal")


async def test_a_relay_killed_between_publish_and_removal_loses_nothing(
    connection: ConnectionSettings, entities: Collection, producer: EventProducer
) -> None:
    prefix = unique("crash")
    customers = [f"{prefix}-{n}" for n in range(2)]
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    await record_contacts(entities, customers, per_customer=5)

    doomed = OutboxRelay([entities], producer, relay_id="relay-b")
    doomed.after_publish = crash
    with pytest.raises(RelayCrash):
        await doomed.relay_once()
    assert await entities.count_documents({PENDING: 5}) == 2, "nothing removed before the crash"

    restarted = OutboxRelay([entities], producer, relay_id="relay-b")
    result = await restarted.relay_once()
    assert result.published == 10 and result.failed == 0
    records = await tail.read(lambda got: len(got) >= 20, keep=ours(prefix))
    assert len(records) == 20, "every event twice: once before the crash, once after"
    by_key = first_occurrences(records)
    for customer in customers:
        assert by_key[customer] == list(range(5))
    assert await entities.count_documents({PENDING: 0}) == 2


async def test_another_relay_waits_for_the_lease_of_a_dead_one(
    entities: Collection, producer: EventProducer
) -> None:
    await record_contacts(entities, [unique("lease")], per_customer=2)
    doomed = OutboxRelay([entities], producer, relay_id="relay-c")
    doomed.after_publish = crash
    with contextlib.suppress(RelayCrash):
        await doomed.relay_once()
    other = OutboxRelay([entities], producer, relay_id="relay-d")
    assert (await other.relay_once()).published == 0, "the lease is still held"


async def test_relay_removals_never_lose_concurrent_state_changes(
    entities: Collection, producer: EventProducer
) -> None:
    # FerretDB applies updates as unisolated read-modify-writes; shared.outbox.write_lock keeps
    # the relay's removals from overwriting the service's changes to the same document.
    customer = unique("race")
    relay = OutboxRelay([entities], producer, relay_id="relay-race", poll_interval=0.01)
    running = asyncio.create_task(relay.run())
    try:

        async def one_change(sequence: int) -> None:
            await update_with_events(
                entities,
                {"_id": customer},
                {"$inc": {"contacts": 1}},
                [contact(customer, sequence)],
                queued_at=datetime.now(UTC),
                upsert=True,
            )
            relay.notify()

        await one_change(0)
        await asyncio.gather(*(one_change(n) for n in range(1, 60)))
        async with asyncio.timeout(30):
            while (await entities.find_one({"_id": customer}))[PENDING]:  # type: ignore[index]
                await asyncio.sleep(0.05)
    finally:
        relay.stop()
        await running
    doc = await entities.find_one({"_id": customer})
    assert doc is not None
    assert doc["contacts"] == 60, "a state change was lost"
    assert doc[OUTBOX] == [] and doc[PENDING] == 0


@pytest.fixture
async def event_batches(mongo_client: MongoClient, connection: ConnectionSettings) -> Collection:
    collection = database(mongo_client, connection, "outbox_test")[unique("event_batches")]
    await ensure_outbox_index(collection)
    return collection


async def test_an_event_batch_publishes_the_events_of_the_facts_written_then_goes(
    connection: ConnectionSettings,
    entities: Collection,
    event_batches: Collection,
    producer: EventProducer,
) -> None:
    prefix = unique("batch")
    hinted: list[Any] = []
    batches = EventBatches(event_batches, hint=lambda _collection, ids: hinted.extend(ids))
    events = [(f"{prefix}-{n}", contact(prefix, n)) for n in range(5)]
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()

    batch = await batches.stage(events, queued_at=datetime.now(UTC))
    relay = OutboxRelay([event_batches], producer, relay_id=unique("relay"))
    assert (await relay.relay_once()).published == 0, "a staged batch is not relayed"
    # Fact 3 was a duplicate: its event must not go out again.
    written = [fact_id for fact_id, _ in events if not fact_id.endswith("-3")]
    assert await batches.release(batch, written) == 4
    assert hinted == [batch["_id"]]

    assert (await relay.relay_once()).published == 4
    records = await tail.read(lambda got: len(got) >= 4, keep=ours(prefix))
    assert first_occurrences(records)[prefix] == [0, 1, 2, 4]
    assert await event_batches.count_documents({}) == 0, "a published batch is deleted"
    # A batch whose facts were all duplicates leaves nothing behind either.
    empty = await batches.stage(events[:1], queued_at=datetime.now(UTC))
    assert await batches.release(empty, []) == 0
    assert await event_batches.count_documents({}) == 0


async def test_a_batch_cut_off_before_its_release_is_recovered_for_the_facts_it_wrote(
    connection: ConnectionSettings,
    entities: Collection,
    event_batches: Collection,
    producer: EventProducer,
) -> None:
    prefix = unique("cutoff")
    batches = EventBatches(event_batches, hint=lambda _collection, _ids: None)
    events = [(f"{prefix}-{n}", contact(prefix, n)) for n in range(4)]
    staged_at = datetime.now(UTC)
    batch = await batches.stage(events, queued_at=staged_at)
    # The writer stored facts 0 and 2 (fact 1 existed before, written by another batch;
    # fact 3 never got written) and died before releasing.
    await entities.insert_many(
        [
            {"_id": f"{prefix}-0", BATCH_ID: batch["_id"]},
            {"_id": f"{prefix}-1", BATCH_ID: "an-earlier-batch"},
            {"_id": f"{prefix}-2", BATCH_ID: batch["_id"]},
        ]
    )

    async def written_by(batch_id: str, fact_ids: Sequence[Any]) -> list[Any]:
        found = entities.find({"_id": {"$in": list(fact_ids)}, BATCH_ID: batch_id}, {"_id": 1})
        return [doc["_id"] async for doc in found]

    # A batch younger than the limit may still be in its writer's hands: left alone.
    assert await batches.recover(written_by, staged_before=staged_at) == 0
    assert await event_batches.count_documents({STAGED: {"$exists": True}}) == 1

    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    later = staged_at + timedelta(seconds=1)
    assert await batches.recover(written_by, staged_before=later) == 2
    assert await batches.recover(written_by, staged_before=later) == 0, "released once"
    relay = OutboxRelay([event_batches], producer, relay_id=unique("relay"))
    assert (await relay.relay_once()).published == 2
    records = await tail.read(lambda got: len(got) >= 2, keep=ours(prefix))
    assert first_occurrences(records)[prefix] == [0, 2]
    assert await event_batches.count_documents({}) == 0


async def test_scrubbing_rewrites_only_the_named_facts_pending_events(
    event_batches: Collection,
) -> None:
    prefix = unique("scrub")
    batches = EventBatches(event_batches, hint=lambda _collection, _ids: None)
    events = [(f"{prefix}-{n}", contact(prefix, n)) for n in range(3)]
    released = await batches.stage(events, queued_at=datetime.now(UTC))
    await batches.release(released, [fact_id for fact_id, _ in events])
    staged = await batches.stage(events[:1], queued_at=datetime.now(UTC))

    changed = await batches.scrub([f"{prefix}-1", f"{prefix}-0"], lambda e: e | {"value": "{}"})
    assert changed == 2
    pending = await event_batches.find_one({"_id": released["_id"]})
    assert pending is not None
    # Entries are stored as JSON text (cheaper for FerretDB than sub-documents).
    values = [json.loads(entry)["value"] for entry in pending[OUTBOX]]
    assert [value == "{}" for value in values] == [True, True, False]
    still_staged = await event_batches.find_one({"_id": staged["_id"]})
    assert still_staged is not None and json.loads(still_staged[STAGED][0])["value"] == "{}"
