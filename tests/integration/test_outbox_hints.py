"""Relay hints on the real stack: hinted documents go out by `_id`, sweeps catch the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from shared.mongo import Collection, MongoClient, database
from shared.outbox import OUTBOX, PENDING, OutboxRelay, ensure_outbox_index, update_with_events
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import INTERACTION
from tests.conftest import unique
from tests.integration.messaging_support import TopicTail
from tests.integration.test_outbox import contact, ours


@pytest.fixture
async def entities(mongo_client: MongoClient, connection: ConnectionSettings) -> Collection:
    collection = database(mongo_client, connection, "outbox_test")[unique("hinted")]
    await ensure_outbox_index(collection)
    return collection


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-relay-hints", request_timeout_ms=3000)
    await events.start()
    yield events
    await events.stop()


async def write(collection: Collection, customer: str) -> None:
    await update_with_events(
        collection,
        {"_id": customer},
        {"$inc": {"contacts": 1}},
        [contact(customer, 0)],
        queued_at=datetime.now(UTC),
        upsert=True,
    )


async def pending(collection: Collection, customer: str) -> int:
    doc = await collection.find_one({"_id": customer})
    assert doc is not None
    return int(doc[PENDING])


async def test_hinted_documents_go_out_at_once_and_a_sweep_catches_the_unhinted(
    entities: Collection, producer: EventProducer, connection: ConnectionSettings
) -> None:
    prefix = unique("hint")
    hinted, unhinted = f"{prefix}-a", f"{prefix}-b"
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    relay = OutboxRelay([entities], producer, relay_id=prefix, sweep_interval=3600)
    relay.hint(entities, [])
    assert (await relay.relay_once()).published == 0  # the first pass sweeps: nothing yet

    await write(entities, hinted)
    await write(entities, unhinted)  # e.g. written just before a crash lost its hint
    relay.hint(entities, [hinted])
    result = await relay.relay_once()
    assert (result.published, result.documents) == (1, 1)
    assert await pending(entities, hinted) == 0
    assert await pending(entities, unhinted) == 1  # no sweep is due for an hour

    restarted = OutboxRelay([entities], producer, relay_id=prefix, sweep_interval=3600)
    restarted.hint(entities, [])
    assert (await restarted.relay_once()).published == 1  # its first pass sweeps
    assert await pending(entities, unhinted) == 0

    records = await tail.read(lambda got: len(got) >= 2, keep=ours(prefix))
    assert sorted(r.key for r in records) == [hinted.encode(), unhinted.encode()]


async def test_a_hinted_document_goes_out_as_it_is_when_relayed(
    entities: Collection, producer: EventProducer, connection: ConnectionSettings
) -> None:
    """An update between the write and the relay pass (an erasure scrubbing a pending event)
    is what gets published: the relay reads the document again rather than trusting the hint."""
    customer = unique("hint-scrub")
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    relay = OutboxRelay([entities], producer, relay_id=customer, sweep_interval=3600)
    await write(entities, customer)
    relay.hint(entities, [customer])
    scrubbed = '{"interaction_id":"scrubbed","channel":"phone","direction":"inbound"}'
    await entities.update_one({"_id": customer}, {"$set": {f"{OUTBOX}.0.value": scrubbed}})

    assert (await relay.relay_once()).published == 1
    records = await tail.read(lambda got: len(got) >= 1, keep=ours(customer))
    assert records[0].value == scrubbed.encode()
    assert await pending(entities, customer) == 0


async def test_a_hinted_document_whose_send_failed_is_retried_without_a_sweep(
    entities: Collection, producer: EventProducer, connection: ConnectionSettings
) -> None:
    customer = unique("hint-retry")
    relay = OutboxRelay([entities], producer, relay_id=customer, sweep_interval=3600)
    relay.hint(entities, [])
    await relay.relay_once()  # the first sweep, so no other sweep is due for an hour
    await write(entities, customer)
    # Aimed at a topic that does not exist (auto-create is off): the send fails.
    await entities.update_one({"_id": customer}, {"$set": {f"{OUTBOX}.0.topic": unique("gone")}})
    relay.hint(entities, [customer])
    try:
        failed = (await relay.relay_once()).failed
    except Exception:  # the send itself raised: no metadata for that topic
        failed = 1
    assert failed == 1
    assert await pending(entities, customer) == 1

    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    await entities.update_one({"_id": customer}, {"$set": {f"{OUTBOX}.0.topic": INTERACTION.name}})
    assert (await relay.relay_once()).published == 1
    assert await pending(entities, customer) == 0
    assert len(await tail.read(lambda got: len(got) >= 1, keep=ours(customer))) == 1
