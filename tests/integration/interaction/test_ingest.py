"""Kafka ingest on the real stack: binary and structured events stored, poison dead-lettered."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from services.interaction.domain import activities
from services.interaction.store import ActivityStore, ReferenceStore
from shared.events import KafkaRecord, encode, new_event
from shared.events.customer import CustomerCreated, CustomerProfile
from shared.events.interaction import InteractionRecorded
from shared.events.vocabulary import Channel, CustomerKind, Direction
from shared.mongo import Document
from shared.outbox import BATCH_ID
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import CONTACT_CENTER_INGEST, INTERACTION
from tests.conftest import bearer, unique
from tests.integration.interaction.conftest import interaction_body
from tests.integration.messaging_support import TopicTail, header


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-ingest")
    await events.start()
    yield events
    await events.stop()


async def stored(store: ActivityStore, doc_id: str, timeout: float = 30.0) -> Document:
    deadline = time.monotonic() + timeout
    while (doc := await store.get(doc_id)) is None:
        assert time.monotonic() < deadline, f"{doc_id} was not stored"
        await asyncio.sleep(0.1)
    return doc


def contact(customer: str, call_id: str) -> KafkaRecord:
    """An ingest record of a WeChat contact for `customer` (an id or a reference)."""
    event = new_event(
        InteractionRecorded(
            interaction_id=call_id,
            channel=Channel.WECHAT,
            direction=Direction.INBOUND,
            subject="Asks for a quote on printed tinplate",
            source_system="cc-avaya",
        ),
        subject=customer,
        source="/contact-center/avaya",
        time=datetime.now(UTC) - timedelta(days=3),
    )
    record = encode(event)
    return KafkaRecord(CONTACT_CENTER_INGEST.name, record.key, record.value, record.headers)


async def test_binary_event_is_stored_and_published(
    ingest_app: FastAPI, producer: EventProducer, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    customer, call_id = unique("cust"), unique("call")
    record = contact(customer, call_id)
    await producer.publish_records([record, record])  # a re-sent message records nothing new
    store: ActivityStore = ingest_app.state.activities
    doc = await stored(store, activities.interaction_id_for("cc-avaya", call_id))
    assert doc["customer_id"] == customer
    assert doc["channel"] == "wechat"
    published = await tail.read(
        lambda got: len(got) >= 1, keep=lambda r: r.key == customer.encode()
    )
    assert header(published[0], "ce_type") == "crm.interaction.recorded.v1"
    await asyncio.sleep(1.0)
    assert len(await store.of_customer(customer)) == 1


async def test_a_backfill_over_kafka_is_stored_in_bulk_and_every_event_published_once(
    ingest_app: FastAPI, producer: EventProducer, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    customers = [unique("cust") for _ in range(5)]
    calls = [(customers[n % 5], unique("call")) for n in range(300)]
    records = [contact(customer, call_id) for customer, call_id in calls]
    await producer.publish_records(records + records[:50])  # 50 re-sent: nothing new
    published = await tail.read(
        lambda got: len({header(r, "ce_id") for r in got}) >= 300,
        keep=lambda r: r.key is not None and r.key.decode() in customers,
        timeout=60,
    )
    assert len({header(r, "ce_id") for r in published}) == 300
    store: ActivityStore = ingest_app.state.activities
    facts = [
        doc
        for customer in customers
        for doc in await store.collection.find({"customer_id": customer}).to_list()
    ]
    assert len(facts) == 300
    # Stored a consumer batch at a time, with one event batch each (not one outbox per fact).
    assert all(BATCH_ID in doc and "outbox" not in doc for doc in facts)
    assert len({doc[BATCH_ID] for doc in facts}) < 300
    per_customer = {c: [r for r in published if r.key == c.encode()] for c in customers}
    for customer, own in per_customer.items():
        sent = [activities.interaction_id_for("cc-avaya", i) for c, i in calls if c == customer]
        got = [json.loads(r.value)["interaction_id"] for r in own]
        assert list(dict.fromkeys(got)) == sent, f"{customer}: events out of order"


async def test_structured_order_is_stored(ingest_app: FastAPI, producer: EventProducer) -> None:
    customer, order_id = unique("cust"), unique("SO")
    envelope = {
        "specversion": "1.0",
        "id": unique("evt"),
        "source": "/erp/kingdee",
        "type": "crm.order.placed.v1",
        "time": "2025-03-01T08:00:00+08:00",
        "subject": customer,
        "data": {"order_id": order_id, "amount": "5000.50", "currency": "CNY"},
    }
    await producer.publish_records(
        [
            KafkaRecord(
                CONTACT_CENTER_INGEST.name,
                customer.encode(),
                json.dumps(envelope).encode(),
                (("content-type", b"application/cloudevents+json"),),
            )
        ]
    )
    store: ActivityStore = ingest_app.state.activities
    doc = await stored(store, activities.order_doc_id(order_id))
    assert Decimal(doc["amount"]) == Decimal("5000.50")
    assert doc["occurred_at"] == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


async def test_malformed_message_goes_to_dlq_and_next_is_processed(
    ingest_app: FastAPI, producer: EventProducer, connection: ConnectionSettings
) -> None:
    dlq = TopicTail(connection, CONTACT_CENTER_INGEST.dlq.name)
    await dlq.mark()
    customer, call_id = unique("cust"), unique("call")
    poison = KafkaRecord(
        CONTACT_CENTER_INGEST.name,
        customer.encode(),
        b"{not json",
        (("content-type", b"application/cloudevents+json"),),
    )
    # Same key, so both land in one partition in this order.
    await producer.publish_records([poison, contact(customer, call_id)])
    store: ActivityStore = ingest_app.state.activities
    await stored(store, activities.interaction_id_for("cc-avaya", call_id))
    letters = await dlq.read(lambda got: len(got) >= 1, keep=lambda r: r.key == customer.encode())
    assert letters[0].value == b"{not json"
    assert header(letters[0], "dlq_error_class") == "undecodable"
    assert header(letters[0], "dlq_reason")
    assert header(letters[0], "dlq_origin_topic") == CONTACT_CENTER_INGEST.name


def customer_created(
    customer: str, *, phone: str | None = None, erp: str | None = None
) -> KafkaRecord:
    profile = CustomerProfile(
        kind=CustomerKind.ORGANISATION,
        name="中山凯达精细化工",
        phones=(phone,) if phone else (),
        external_ids={"erp": erp} if erp else {},
    )
    event = new_event(
        CustomerCreated(profile=profile),
        subject=customer,
        source="/services/customer",
        time=datetime.now(UTC),
    )
    return encode(event)


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 30
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_phone_reference_resolves_to_the_customer(
    ingest_app: FastAPI, producer: EventProducer
) -> None:
    refs: ReferenceStore = ingest_app.state.references
    store: ActivityStore = ingest_app.state.activities
    customer = unique("cust")
    digits = f"86138{uuid.uuid4().int % 10**8:08d}"
    await producer.publish_records([customer_created(customer, phone=f"+{digits}")])

    async def known() -> bool:
        return await refs.lookup(f"phone:+{digits}") == customer

    await wait_for(known, "the customer's phone never reached the read model")
    call_id = unique("call")
    # The subject pattern of the envelope has no room for "+", so the number goes without it.
    await producer.publish_records([contact(f"phone:{digits}", call_id)])
    doc = await stored(store, activities.interaction_id_for("cc-avaya", call_id))
    assert doc["customer_id"] == customer


async def test_event_for_unknown_customer_is_parked_then_resolved(
    ingest_app: FastAPI, producer: EventProducer
) -> None:
    refs: ReferenceStore = ingest_app.state.references
    store: ActivityStore = ingest_app.state.activities
    erp, call_id = unique("K"), unique("call")
    await producer.publish_records([contact(f"erp:{erp}", call_id)])

    async def parked() -> bool:
        return bool(await refs.parked_for(f"erp:{erp}"))

    await wait_for(parked, "the event was not parked")
    transport = httpx.ASGITransport(app=ingest_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://svc", headers=bearer()
    ) as http:
        listed = (await http.get("/v1/parked")).json()
    assert f"erp:{erp}" in {entry["reference"] for entry in listed}
    customer = unique("cust")
    await producer.publish_records([customer_created(customer, erp=erp)])
    doc = await stored(store, activities.interaction_id_for("cc-avaya", call_id))
    assert doc["customer_id"] == customer
    assert await refs.parked_for(f"erp:{erp}") == []


async def test_http_facts_by_reference_resolve_or_wait_for_their_customer(
    ingest_app: FastAPI, producer: EventProducer
) -> None:
    """Over HTTP as on the ingest topic: a phone of a known customer resolves; an ERP code no
    customer has yet is parked (202), listed, and recorded once the customer appears; the
    same fact resent by reference after that is a duplicate."""
    refs: ReferenceStore = ingest_app.state.references
    store: ActivityStore = ingest_app.state.activities
    known, erp = unique("cust"), unique("K")
    digits = f"86139{uuid.uuid4().int % 10**8:08d}"
    await producer.publish_records([customer_created(known, phone=f"+{digits}")])

    async def phone_known() -> bool:
        return await refs.lookup(f"phone:+{digits}") == known

    await wait_for(phone_known, "the customer's phone never reached the read model")
    by_phone = interaction_body(customer_id=f"phone:{digits}")
    waiting = interaction_body(customer_id=f"erp:{erp}")
    transport = httpx.ASGITransport(app=ingest_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://svc", headers=bearer()
    ) as http:
        resolved = await http.post("/v1/interactions", json=by_phone)
        assert resolved.status_code == 201, resolved.text
        assert resolved.json()["customer_id"] == known
        parked = await http.post("/v1/interactions", json=waiting)
        assert parked.status_code == 202, parked.text
        assert parked.json()["status"] == "parked"
        batch = await http.post(
            "/v1/interactions:batch",
            json={"items": [interaction_body(customer_id=f"erp:{erp}"), by_phone]},
        )
        assert batch.status_code == 200, batch.text
        assert [r["status"] for r in batch.json()["results"]] == ["parked", "duplicate"]
        assert batch.json()["parked"] == 1
        listed = {entry["reference"] for entry in (await http.get("/v1/parked")).json()}
        assert f"erp:{erp}" in listed

        customer = unique("cust")
        await producer.publish_records([customer_created(customer, erp=erp)])
        doc = await stored(
            store, activities.interaction_id_for("cc-genesys", waiting["external_id"])
        )
        assert doc["customer_id"] == customer

        async def unparked() -> bool:
            return await refs.parked_for(f"erp:{erp}") == []

        await wait_for(unparked, "the parked facts were not recorded")
        again = await http.post("/v1/interactions", json=waiting)
        assert again.status_code == 200, again.text
        assert again.json() | {"status": "duplicate", "customer_id": customer} == again.json()
    stored_by_phone = await store.get(
        activities.interaction_id_for("cc-genesys", by_phone["external_id"])
    )
    assert stored_by_phone is not None
    assert stored_by_phone["customer_id"] == known
    assert stored_by_phone["addressed_as"] == f"phone:{digits}"  # as it was sent


async def test_a_reference_that_cannot_match_anyone_is_refused_not_parked(
    ingest_app: FastAPI, producer: EventProducer, connection: ConnectionSettings
) -> None:
    """`phone:abc` is no phone number: 422 over HTTP, a rejected batch item, the DLQ on the
    ingest topic — never parked where no customer can ever claim it."""
    refs: ReferenceStore = ingest_app.state.references
    transport = httpx.ASGITransport(app=ingest_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://svc", headers=bearer()
    ) as http:
        single = await http.post("/v1/interactions", json=interaction_body(customer_id="phone:abc"))
        assert single.status_code == 422, single.text
        assert "customer_id" in single.json()["detail"]
        batch = await http.post(
            "/v1/batch",
            json={"items": [{"kind": "interaction", **interaction_body(customer_id="email:x")}]},
        )
        assert batch.status_code == 200, batch.text
        (result,) = batch.json()["results"]
        assert result["status"] == "rejected"
        assert "e-mail reference needs an address" in result["reason"]
    dlq = TopicTail(connection, CONTACT_CENTER_INGEST.dlq.name)
    await dlq.mark()
    call_id = unique("call")
    await producer.publish_records([contact("phone:abc", call_id)])
    letters = await dlq.read(
        lambda got: len(got) >= 1, keep=lambda r: call_id.encode() in (r.value or b"")
    )
    assert header(letters[0], "dlq_error_class") == "handler_error"
    assert "phone reference needs a phone number" in (header(letters[0], "dlq_reason") or "")
    assert await refs.parked_for("phone:+") == []
