"""Merged and erased customers on the real stack: customer events from the real topic, facts
re-keyed to the survivor, later facts following the merge, personal data erased in Mongo."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.interaction.domain import activities
from services.interaction.store import (
    ACTIVITIES,
    CUSTOMER_REFS,
    EVENT_BATCHES,
    PARKED,
    ActivityStore,
    CustomerStatusStore,
    FactBuffer,
    ReferenceStore,
)
from shared.events import Event, EventData, encode, new_event
from shared.events.customer import (
    CustomerCreated,
    CustomerErased,
    CustomerMerged,
    CustomerProfile,
    CustomerUpdated,
)
from shared.events.interaction import InteractionRecorded
from shared.events.vocabulary import Channel, CustomerKind, Direction
from shared.mongo import MongoClient, database
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import CONTACT_CENTER_INGEST, INTERACTION
from tests.conftest import bearer, unique
from tests.integration.interaction.conftest import interaction_body, order_body
from tests.integration.interaction.test_ingest import contact, stored
from tests.integration.messaging_support import TopicTail, header


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-merge-erase")
    await events.start()
    yield events
    await events.stop()


@pytest.fixture
async def http(ingest_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ingest_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://interaction", headers=bearer()
    ) as client:
        yield client


def phone() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


def profile(**fields: Any) -> CustomerProfile:
    return CustomerProfile(kind=CustomerKind.ORGANISATION, name="中山凯达精细化工", **fields)


async def publish(producer: EventProducer, data: EventData, customer: str) -> Event[Any]:
    event = new_event(data, subject=customer, source="/services/customer", time=datetime.now(UTC))
    await producer.publish_records([encode(event)])
    return event


async def until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def handled_after(app: FastAPI, before: int, consumer: str = "customer_refs") -> None:
    """Waits until the consumer (`app.state.<consumer>`) handled more events than `before`."""

    async def more() -> bool:
        return int(getattr(app.state, consumer).stats.handled) > before

    await until(more, f"the {consumer} consumer handled nothing new")


async def test_merge_rekeys_facts_and_later_facts_follow(
    ingest_app: FastAPI,
    http: httpx.AsyncClient,
    producer: EventProducer,
    connection: ConnectionSettings,
) -> None:
    store: ActivityStore = ingest_app.state.activities
    refs: ReferenceStore = ingest_app.state.references
    merged, survivor = unique("cust-a"), unique("cust-b")
    merged_phone, merged_erp = phone(), unique("K")
    await publish(
        producer,
        CustomerCreated(profile=profile(phones=(merged_phone,), external_ids={"erp": merged_erp})),
        merged,
    )
    survivor_profile = profile(phones=(phone(),))
    await publish(producer, CustomerCreated(profile=survivor_profile), survivor)

    async def learnt() -> bool:
        return await refs.lookup(f"erp:{merged_erp}") == merged

    await until(learnt, "the merged customer's references were not learnt")

    # Facts of both customers, over HTTP and over the ingest topic.
    call_a1 = interaction_body(customer_id=merged)
    order_a = order_body(customer_id=merged)
    call_b1 = interaction_body(customer_id=survivor)
    for path, body in (
        ("/v1/interactions", call_a1),
        ("/v1/orders", order_a),
        ("/v1/interactions", call_b1),
    ):
        assert (await http.post(path, json=body)).status_code == 201
    call_a2 = unique("call")
    await producer.publish_records([contact(merged, call_a2)])
    a2_id = activities.interaction_id_for("cc-avaya", call_a2)
    await stored(store, a2_id)
    before = {doc["_id"] for doc in await store.of_customer(survivor)} | {
        doc["_id"] for doc in await store.of_customer(merged)
    }
    assert len(before) == 4

    # The survivor's profile names neither of the merged customer's references: they follow
    # because the merge re-points them, not because the profile is learnt.
    await publish(
        producer, CustomerMerged(merged_ids=(merged,), profile=survivor_profile), survivor
    )

    async def rekeyed() -> bool:
        return not await store.of_customer(merged)

    await until(rekeyed, "the merged customer's facts were not re-keyed")
    assert await refs.lookup(f"erp:{merged_erp}") == survivor
    assert await refs.lookup(f"phone:{merged_phone}") == survivor
    moved = await store.get(activities.order_doc_id(order_a["order_id"]))
    assert moved is not None
    assert moved["customer_id"] == survivor and moved["merged_from"] == merged

    timeline = await http.get(f"/v1/customers/{survivor}/timeline")
    assert timeline.status_code == 200
    assert {item["id"] for item in timeline.json()["items"]} == before
    stats = (await http.get(f"/v1/customers/{survivor}/contact-stats")).json()
    assert stats["contacts_total"] == 3
    assert stats["last_order_at"] is not None

    # The merged id keeps resolving: 200 with the survivor's data, as the customer service.
    via_merged = await http.get(f"/v1/customers/{merged}/timeline")
    assert via_merged.status_code == 200
    assert via_merged.headers["content-location"] == f"/v1/customers/{survivor}/timeline"
    assert via_merged.json() == timeline.json()
    merged_stats = await http.get(f"/v1/customers/{merged}/contact-stats")
    assert merged_stats.json()["customer_id"] == survivor
    assert merged_stats.json()["contacts_total"] == 3

    # Later facts for the merged id land under the survivor, published under its id.
    published = TopicTail(connection, INTERACTION.name)
    await published.mark()
    later = await http.post("/v1/interactions", json=interaction_body(customer_id=merged))
    assert later.status_code == 201
    assert later.json()["customer_id"] == survivor
    later_doc = await store.get(later.json()["id"])
    assert later_doc is not None and later_doc["customer_id"] == survivor
    event_id = later.json()["event_id"]
    records = await published.read(
        lambda got: len(got) >= 1, keep=lambda r: header(r, "ce_id") == event_id
    )
    assert records[0].key == survivor.encode()
    assert header(records[0], "ce_subject") == survivor

    batch = await http.post(
        "/v1/batch",
        json={"items": [{"kind": "order", **order_body(customer_id=merged)}]},
    )
    assert batch.json()["accepted"] == 1
    batch_doc = await store.get(batch.json()["results"][0]["id"])
    assert batch_doc is not None and batch_doc["customer_id"] == survivor

    call_a3, call_a4 = unique("call"), unique("call")
    await producer.publish_records(
        [contact(merged, call_a3), contact(f"erp:{merged_erp}", call_a4)]
    )
    for call in (call_a3, call_a4):
        doc = await stored(store, activities.interaction_id_for("cc-avaya", call))
        assert doc["customer_id"] == survivor

    # Repeats of facts stored before the merge stay duplicates, whichever id they name.
    for customer in (merged, survivor):
        again = await http.post("/v1/interactions", json=call_a1 | {"customer_id": customer})
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
    repeated = await http.post("/v1/batch", json={"items": [{"kind": "order", **order_a}]})
    assert repeated.json()["duplicate"] == 1
    count = len(await store.of_customer(survivor))
    handled = int(ingest_app.state.ingest.stats.handled)
    await producer.publish_records([contact(merged, call_a2)])  # a new event, the same call
    await handled_after(ingest_app, handled, "ingest")
    assert len(await store.of_customer(survivor)) == count == 8

    # A chain: the survivor is merged on; the first id follows to the end.
    final = unique("cust-c")
    await publish(producer, CustomerCreated(profile=profile()), final)
    await publish(producer, CustomerMerged(merged_ids=(survivor,), profile=profile()), final)

    async def chained() -> bool:
        return not await store.of_customer(survivor)

    await until(chained, "the second merge did not re-key")
    assert len(await store.of_customer(final)) == count
    end = await http.post("/v1/interactions", json=interaction_body(customer_id=merged))
    assert end.json()["customer_id"] == final
    assert await refs.lookup(f"erp:{merged_erp}") == final

    # A replayed merge finds nothing left to move and changes nothing.
    handled = int(ingest_app.state.customer_refs.stats.handled)
    await publish(producer, CustomerMerged(merged_ids=(merged,), profile=profile()), survivor)
    await handled_after(ingest_app, handled)
    assert len(await store.of_customer(final)) == count + 1


MARK = "王经理-13800001111"  # personal text, searched for in the raw documents after erasure


async def test_erasure_removes_personal_data_and_refuses_later_facts(
    ingest_app: FastAPI,
    http: httpx.AsyncClient,
    producer: EventProducer,
    connection: ConnectionSettings,
    mongo_client: MongoClient,
) -> None:
    store: ActivityStore = ingest_app.state.activities
    refs: ReferenceStore = ingest_app.state.references
    customer, absorbed = unique("cust-e"), unique("cust-m")
    number, email = phone(), f"{unique('buyer')}@kaida.cn"
    erased_profile = profile(phones=(number,), emails=(email,))
    await publish(producer, CustomerCreated(profile=erased_profile), customer)
    await publish(producer, CustomerCreated(profile=profile()), absorbed)

    async def learnt() -> bool:
        return await refs.lookup(f"email:{email}") == customer

    await until(learnt, "the customer's references were not learnt")
    contact_body = interaction_body(customer_id=customer, subject=MARK, summary=f"says {MARK}")
    order = order_body(customer_id=customer)
    absorbed_body = interaction_body(customer_id=absorbed, summary=MARK, outcome=MARK)
    for path, body in (
        ("/v1/interactions", contact_body),
        ("/v1/orders", order),
        ("/v1/interactions", absorbed_body),
    ):
        assert (await http.post(path, json=body)).status_code == 201
    cancelled = await http.post(
        f"/v1/orders/{order['order_id']}/cancel", json={"reason": f"{MARK} left the company"}
    )
    assert cancelled.status_code == 201
    await publish(
        producer, CustomerMerged(merged_ids=(absorbed,), profile=erased_profile), customer
    )

    async def absorbed_moved() -> bool:
        return not await store.of_customer(absorbed)

    await until(absorbed_moved, "the merge was not applied")
    # An event parked under one of the customer's references (it raced the customer's arrival).
    parked_call = unique("call")
    ref = f"phone:{number}"
    parked_event = new_event(
        InteractionRecorded(
            interaction_id=parked_call,
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            subject=MARK,
            source_system="cc-avaya",
        ),
        subject=f"phone:{number.lstrip('+')}",
        source="/contact-center/avaya",
        time=datetime.now(UTC),
    )
    await refs.park(ref, parked_event, at=datetime.now(UTC))
    facts = await store.of_customer(customer)
    assert len(facts) == 4

    await publish(producer, CustomerErased(reason="customer request"), customer)

    async def forgotten() -> bool:
        return await refs.lookup(f"email:{email}") is None

    await until(forgotten, "the customer's references still resolve")
    assert await refs.lookup(ref) is None

    async def scrubbed() -> bool:
        docs = [d async for d in store.collection.find({"customer_id": customer})]
        return all(MARK not in repr(doc) for doc in docs)

    await until(scrubbed, "personal text is still stored")
    raw = [d async for d in store.collection.find({"customer_id": customer})]
    assert {doc["_id"] for doc in raw} == {doc["_id"] for doc in facts}
    for doc in raw:
        assert MARK not in repr(doc)
        assert doc.get("subject") is None and doc.get("summary") is None
        assert doc["erased_at"] is not None
    placed = next(doc for doc in raw if doc["kind"] == "order_placed")
    assert Decimal(placed["amount"]) == Decimal(order["amount"])
    assert placed["lines"][0]["product_code"] == "AER-65x200"
    call = next(
        doc
        for doc in raw
        if doc["_id"]
        == activities.interaction_id_for(contact_body["source_system"], contact_body["external_id"])
    )
    assert call["channel"] == "phone" and call["duration_s"] == 240
    db = ingest_app.state.activities.collection.database
    assert [d async for d in db[CUSTOMER_REFS].find({"customer_id": customer})] == []
    assert [d async for d in db[PARKED].find({"ref": ref})] == []
    entries = (await http.get(f"/v1/customers/{customer}/timeline")).json()["items"]
    assert len(entries) == 4 and all(entry["erased_at"] for entry in entries)
    stats = (await http.get(f"/v1/customers/{customer}/contact-stats")).json()
    assert stats["contacts_total"] == 2  # the statistics keep their facts

    # Later facts for the erased customer are refused: 410, a rejected batch item, the DLQ.
    refused = await http.post("/v1/interactions", json=interaction_body(customer_id=customer))
    assert refused.status_code == 410
    assert "erased" in refused.json()["detail"]
    via_merged = await http.post("/v1/interactions", json=interaction_body(customer_id=absorbed))
    assert via_merged.status_code == 410
    batch = await http.post(
        "/v1/interactions:batch", json={"items": [interaction_body(customer_id=customer)]}
    )
    assert batch.json()["rejected"] == 1
    assert "erased" in batch.json()["results"][0]["reason"]
    dlq = TopicTail(connection, CONTACT_CENTER_INGEST.dlq.name)
    await dlq.mark()
    late_call = unique("call")
    await producer.publish_records([contact(customer, late_call)])
    letters = await dlq.read(lambda got: len(got) >= 1, keep=lambda r: r.key == customer.encode())
    assert "erased" in (header(letters[0], "dlq_reason") or "")
    assert await store.get(activities.interaction_id_for("cc-avaya", late_call)) is None

    # A profile replayed after the erasure does not make its references resolve again.
    handled = int(ingest_app.state.customer_refs.stats.handled)
    await publish(producer, CustomerUpdated(profile=erased_profile, changed_fields=()), customer)
    await handled_after(ingest_app, handled)
    assert await refs.lookup(f"email:{email}") is None
    status: CustomerStatusStore = ingest_app.state.customer_status
    assert (await status.resolve(customer)).erased


def a_contact(
    customer: str, *, at: datetime, channel: Channel = Channel.PHONE, **fields: Any
) -> activities.Recorded:
    """A contact of `customer` an hour before `at`, as the store-level tests record it."""
    return activities.record_interaction(
        activities.RecordInteraction(
            customer_id=customer,
            channel=channel,
            direction=Direction.INBOUND,
            occurred_at=at - timedelta(hours=1),
            source_system="cc-genesys",
            external_id=unique("call"),
            **fields,
        ),
        received_at=at,
    )


async def test_erasure_scrubs_events_still_waiting_in_the_outbox(
    connection: ConnectionSettings, mongo_client: MongoClient
) -> None:
    # A database of its own with no relay: the fact's event stays pending in its outbox.
    db = database(mongo_client, connection, unique("crm_interaction_outbox"))
    store = ActivityStore(db, notify=lambda: None)
    now = datetime.now(UTC)
    customer = unique("cust")
    fact = a_contact(customer, at=now, channel=Channel.WECHAT, subject=MARK, outcome=MARK)
    assert await store.insert(fact, queued_at=now)
    assert await store.erase(customer, at=now) == 1
    doc = await db[ACTIVITIES].find_one({"_id": fact.id})
    assert doc is not None
    assert doc["outbox_pending"] == 1
    assert len(doc["outbox"]) == 1 and MARK not in repr(doc)
    assert doc["outbox"][0]["headers"]["ce_subject"] == customer
    assert await store.erase(customer, at=now) == 0  # nothing left to erase


async def test_erasure_scrubs_batched_events_still_waiting_and_spares_other_customers(
    connection: ConnectionSettings, mongo_client: MongoClient
) -> None:
    db = database(mongo_client, connection, unique("crm_interaction_outbox"))
    store = ActivityStore(db, notify=lambda: None)
    now = datetime.now(UTC)
    erased, kept = unique("cust"), unique("cust")
    contacts = [a_contact(c, at=now, subject=MARK) for c in (erased, kept, erased)]
    await store.insert_many(contacts, queued_at=now)
    assert await store.erase(erased, at=now) == 2
    batch = await db[EVENT_BATCHES].find_one({})
    assert batch is not None and batch["outbox_pending"] == 3
    entries = [json.loads(entry) for entry in batch["outbox"]]  # stored as JSON text
    assert MARK not in repr([entry for entry in entries if entry["key"] == erased])
    assert [MARK in entry["value"] for entry in entries if entry["key"] == kept] == [True], (
        "another customer's event is left as it was"
    )


async def test_a_batch_cut_off_before_its_events_were_released_is_published_by_recovery(
    connection: ConnectionSettings, mongo_client: MongoClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database(mongo_client, connection, unique("crm_interaction_outbox"))
    store = ActivityStore(db, notify=lambda: None)
    now = datetime.now(UTC)
    customer = unique("cust")
    facts = [a_contact(customer, at=now - timedelta(minutes=n)) for n in range(3)]
    assert await store.insert_many(facts[:1], queued_at=now)  # stored and released before

    async def crash(*_args: Any) -> int:
        raise ConnectionError("the process died here")

    monkeypatch.setattr(store.batches, "release", crash)
    with pytest.raises(ConnectionError):
        await store.insert_many(facts, queued_at=now)  # 0 is a duplicate, 1 and 2 are new
    monkeypatch.undo()

    assert await store.recover_event_batches(staged_before=now) == 0, "too young to recover"
    assert await store.recover_event_batches(staged_before=now + timedelta(seconds=1)) == 2
    pending = [
        json.loads(entry)["fact"]
        async for batch in db[EVENT_BATCHES].find({})
        for entry in batch["outbox"]
    ]
    assert sorted(pending) == sorted([facts[0].id, facts[1].id, facts[2].id])


async def test_merges_seen_out_of_order_end_at_the_last_survivor_and_respect_erasure(
    ingest_app: FastAPI, http: httpx.AsyncClient, producer: EventProducer
) -> None:
    store: ActivityStore = ingest_app.state.activities
    first, middle, last = unique("cust-a"), unique("cust-b"), unique("cust-c")
    call = interaction_body(customer_id=first, summary=MARK)
    assert (await http.post("/v1/interactions", json=call)).status_code == 201
    # Keys differ, so the archive's merges may be consumed in either order: B→C first here.
    handled = int(ingest_app.state.customer_refs.stats.handled)
    await publish(producer, CustomerMerged(merged_ids=(middle,), profile=profile()), last)
    await handled_after(ingest_app, handled)
    handled = int(ingest_app.state.customer_refs.stats.handled)
    await publish(producer, CustomerMerged(merged_ids=(first,), profile=profile()), middle)
    await handled_after(ingest_app, handled)
    [doc] = await store.of_customer(last)
    assert doc["merged_from"] == first and doc["summary"] == MARK

    # A merge into a customer erased meanwhile: the merged facts arrive erased.
    erased, late = unique("cust-e"), unique("cust-l")
    late_call = interaction_body(customer_id=late, summary=MARK)
    assert (await http.post("/v1/interactions", json=late_call)).status_code == 201
    handled = int(ingest_app.state.customer_refs.stats.handled)
    await publish(producer, CustomerErased(), erased)
    await publish(producer, CustomerMerged(merged_ids=(late,), profile=profile()), erased)
    await handled_after(ingest_app, handled + 1)
    [moved] = await store.of_customer(erased)
    assert moved["merged_from"] == late and moved["summary"] is None
    assert MARK not in repr(await store.collection.find_one({"_id": moved["_id"]}))


async def test_a_buffered_ingest_fact_follows_a_merge_or_erasure_that_came_before_its_flush(
    connection: ConnectionSettings, mongo_client: MongoClient
) -> None:
    db = database(mongo_client, connection, unique("crm_interaction_buffer"))
    store = ActivityStore(db, notify=lambda: None)
    status = CustomerStatusStore(db)
    buffer = FactBuffer(store, status)
    now = datetime.now(UTC)
    erased, merged, survivor = unique("cust"), unique("cust"), unique("cust")
    gone, moved = a_contact(erased, at=now), a_contact(merged, at=now)
    await buffer.insert(gone, queued_at=now)
    await buffer.insert(moved, queued_at=now)
    await status.mark_erased(erased, at=now)
    await status.mark_merged([merged], survivor, at=now)
    await buffer.flush()
    assert await store.get(gone.id) is None, "an erased customer's fact is not stored"
    stored = await store.get(moved.id)
    assert stored is not None and stored["customer_id"] == survivor
    await buffer.flush()  # nothing left: no second write
    assert await db[EVENT_BATCHES].count_documents({}) == 1
