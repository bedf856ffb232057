"""Merged and erased customers on the real stack: real events on crm.customer.v1, consumed by
the complaint service's own consumer group, change the complaints in FerretDB.

The test's consumer group starts at the topic's current end, so it neither competes with other
tests nor re-reads earlier runs' messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.complaint.app import create_app
from services.complaint.settings import Settings
from shared.events import Event, EventData, KafkaRecord, new_event, utc_now
from shared.events.customer import CustomerErased, CustomerMerged, CustomerProfile
from shared.events.vocabulary import CustomerKind
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import CUSTOMER
from tests.conftest import unique
from tests.integration.complaint.conftest import complaint_body
from tests.integration.messaging_support import TopicTail, group_at_end, header

ERASED = "[erased]"


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    settings = Settings(
        **connection.model_dump(),
        sla_check_interval_s=0,
        customers_enabled=True,
        merge_erase_group_id=await group_at_end(connection, CUSTOMER),
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        deadline = time.monotonic() + 30
        while not application.state.customers.assigned:
            assert time.monotonic() < deadline, "the customer consumer got no partitions"
            await asyncio.sleep(0.1)
        yield application


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-complaint-customers")
    await events.start()
    yield events
    await events.stop()


def customer_event(data: EventData, customer_id: str) -> Event[Any]:
    return new_event(data, subject=customer_id, source="/tests/complaint", time=utc_now())


def merged(survivor: str, *merged_ids: str) -> Event[Any]:
    profile = CustomerProfile(kind=CustomerKind.ORGANISATION, name="中山凯达")
    return customer_event(CustomerMerged(merged_ids=merged_ids, profile=profile), survivor)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not reached within {timeout}s"
        await asyncio.sleep(0.2)


async def open_and_resolve(client: httpx.AsyncClient, customer: str, **fields: Any) -> str:
    reported = utc_now() - timedelta(hours=5)
    created = await client.post(
        "/v1/complaints",
        json=complaint_body(customer_id=customer, reported_at=reported.isoformat(), **fields),
    )
    assert created.status_code == 201, created.text
    current = created
    for action, body in (
        ("acknowledge", {"at": (reported + timedelta(hours=1)).isoformat()}),
        ("start", {"at": (reported + timedelta(hours=1)).isoformat()}),
        (
            "resolve",
            {
                "at": (reported + timedelta(hours=4)).isoformat(),
                "validity": "upheld",
                "root_cause": "quality",
                "corrective_action": "Replaced the valve supplier",
            },
        ),
    ):
        current = await client.post(
            f"/v1/complaints/{created.json()['id']}/{action}",
            json=body,
            headers={"If-Match": current.headers["ETag"]},
        )
        assert current.status_code == 200, current.text
    complaint_id: str = created.json()["id"]
    return complaint_id


async def customer_of(client: httpx.AsyncClient, complaint_id: str) -> str:
    customer: str = (await client.get(f"/v1/complaints/{complaint_id}")).json()["customer_id"]
    return customer


async def test_merge_moves_complaints_and_stats_to_the_survivor(
    client: httpx.AsyncClient, producer: EventProducer
) -> None:
    survivor, old_a, old_b = unique("cust"), unique("cust"), unique("cust")
    own = await open_and_resolve(client, survivor)
    from_a = [await open_and_resolve(client, old_a) for _ in range(2)]
    from_b = (await client.post("/v1/complaints", json=complaint_body(customer_id=old_b))).json()
    etag_before = (await client.get(f"/v1/complaints/{from_a[0]}")).headers["ETag"]

    event = merged(survivor, old_a, old_b)
    await producer.publish([event])

    async def moved() -> bool:
        ids = [*from_a, from_b["id"]]
        return all([await customer_of(client, each) == survivor for each in ids])

    await eventually(moved)
    moved_one = await client.get(f"/v1/complaints/{from_a[0]}")
    assert moved_one.json()["former_customer_ids"] == [old_a]
    assert moved_one.headers["ETag"] != etag_before  # an agent's stale ETag now gets 412
    assert await customer_of(client, own) == survivor

    listed = await client.get("/v1/complaints", params={"customer_id": survivor})
    assert {c["id"] for c in listed.json()["items"]} == {own, *from_a, from_b["id"]}
    # The merged-away id keeps resolving: it lists and counts the survivor's complaints.
    by_old_id = await client.get("/v1/complaints", params={"customer_id": old_a})
    assert {c["id"] for c in by_old_id.json()["items"]} == {own, *from_a, from_b["id"]}
    stats = (await client.get("/v1/complaints/stats", params={"customer_id": survivor})).json()
    assert stats["total"] == 4
    assert stats["by_state"] == {"resolved": 3, "new": 1}
    assert stats["median_resolution_s"] == 4 * 3600
    old_stats = await client.get("/v1/complaints/stats", params={"customer_id": old_b})
    assert old_stats.json() == stats

    # A complaint opened later under a merged-away id lands on the survivor.
    late = await client.post("/v1/complaints", json=complaint_body(customer_id=old_b))
    assert late.json()["customer_id"] == survivor

    # Replays change nothing: the same event (deduped) and an equal one with a new id.
    versions = {
        each: (await client.get(f"/v1/complaints/{each}")).json()["version"] for each in from_a
    }
    await producer.publish([event, merged(survivor, old_a, old_b)])
    await handled_up_to_here(client, producer, survivor)
    for each in from_a:
        assert (await client.get(f"/v1/complaints/{each}")).json()["version"] == versions[each]


async def handled_up_to_here(client: httpx.AsyncClient, producer: EventProducer, key: str) -> None:
    """Until every event published so far under `key` was handled: a last merge under the
    same key (so on the same partition, behind them) moves a fresh complaint, and the
    consumer handles a partition in order. Waits on the effect, not on the wall clock."""
    marker = unique("cust")
    complaint = await client.post("/v1/complaints", json=complaint_body(customer_id=marker))
    await producer.publish([merged(key, marker)])

    async def moved() -> bool:
        return await customer_of(client, complaint.json()["id"]) == key

    await eventually(moved)


async def test_erasure_scrubs_personal_data_and_keeps_the_statistics(
    client: httpx.AsyncClient, producer: EventProducer
) -> None:
    customer, other = unique("cust"), unique("cust")
    attachment = {
        "file_name": "wang-photo.jpg",
        "content_type": "image/jpeg",
        "size_bytes": 2048,
        "sha256": "c" * 64,
        "storage_ref": "https://files.example.cn/wang-photo.jpg",
    }
    erased_id = await open_and_resolve(
        client,
        customer,
        description="Mr Wang, +86 138 0000 8000, says the valve leaks",
        attachments=[attachment],
    )
    comment = await client.post(
        f"/v1/complaints/{erased_id}/comments", json={"body": "Called Mr Wang back"}
    )
    assert comment.status_code == 201
    survey = await client.post(
        f"/v1/complaints/{erased_id}/survey", json={"score": 2, "comment": "Wang: too slow"}
    )
    assert survey.status_code == 201
    kept_id = await open_and_resolve(client, other, description="Ms Li's complaint")
    before = (await client.get("/v1/complaints/stats", params={"customer_id": customer})).json()

    await producer.publish([customer_event(CustomerErased(reason="request"), customer)])

    async def scrubbed() -> bool:
        doc = (await client.get(f"/v1/complaints/{erased_id}")).json()
        return doc["erased_at"] is not None

    await eventually(scrubbed)
    doc = (await client.get(f"/v1/complaints/{erased_id}")).json()
    assert "Wang" not in str(doc)
    assert doc["title"] == doc["description"] == ERASED
    assert doc["comments"][0]["body"] == ERASED
    assert doc["attachments"][0]["file_name"] == doc["attachments"][0]["storage_ref"] == ERASED
    assert doc["attachments"][0]["size_bytes"] == 2048
    assert doc["survey"]["comment"] is None and doc["survey"]["score"] == 2
    assert doc["resolution"]["root_cause"] == "quality"
    assert doc["category"] == "product_quality" and doc["severity"] == "high"
    after = (await client.get("/v1/complaints/stats", params={"customer_id": customer})).json()
    assert after == before  # statistics are unchanged by the erasure

    other_doc = (await client.get(f"/v1/complaints/{kept_id}")).json()
    assert other_doc["description"] == "Ms Li's complaint" and other_doc["erased_at"] is None

    # A replayed erasure changes nothing.
    version = doc["version"]
    await producer.publish([customer_event(CustomerErased(reason="request"), customer)])
    await handled_up_to_here(client, producer, customer)
    assert (await client.get(f"/v1/complaints/{erased_id}")).json()["version"] == version


async def test_poison_on_the_customer_topic_goes_to_the_dlq(
    app: FastAPI, producer: EventProducer, connection: ConnectionSettings
) -> None:
    dlq = TopicTail(connection, CUSTOMER.dlq.name)
    await dlq.mark()
    key = unique("cust").encode()
    await producer.publish_records(
        [KafkaRecord(topic=CUSTOMER.name, key=key, value=b"{not json", headers=())]
    )
    group = app.state.customers.group_id
    records = await dlq.read(
        lambda got: len(got) >= 1,
        keep=lambda r: r.key == key and header(r, "dlq_consumer_group") == group,
    )
    assert header(records[0], "dlq_origin_topic") == CUSTOMER.name
    assert header(records[0], "dlq_reason")
