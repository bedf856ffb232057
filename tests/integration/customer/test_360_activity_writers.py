"""The 360's activity document has two writers — the interaction consumer adds entries, the
customer consumer's erasure scrubs them — and neither may undo the other (real FerretDB)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest

from services.customer.view360 import View360Store
from shared.events import new_event, utc_now
from shared.events.interaction import InteractionRecorded, OrderPlaced
from shared.events.vocabulary import Channel, Direction
from shared.mongo import MongoClient
from shared.settings import ConnectionSettings
from tests.conftest import unique

WRITERS = 12  # fewer than the activity limit (20): every entry must stay


@pytest.fixture
async def store(
    mongo_client: MongoClient, connection: ConnectionSettings
) -> AsyncIterator[View360Store]:
    name = connection.mongo_database_prefix + unique("view360").replace("-", "_")
    yield View360Store(mongo_client[name])
    await mongo_client.drop_database(name)


async def test_concurrent_entries_and_an_erasure_keep_every_entry_and_scrub_it(
    store: View360Store,
) -> None:
    customer = unique("cus")
    now = utc_now()
    calls = [
        new_event(
            InteractionRecorded(
                interaction_id=f"call-{n}",
                channel=Channel.PHONE,
                direction=Direction.INBOUND,
                subject=f"call {n}",
                agent="li.na",
            ),
            subject=customer,
            source="/tests",
            time=now - timedelta(minutes=n),
        )
        for n in range(WRITERS)
    ]
    order = new_event(
        OrderPlaced(order_id="SO-1", amount=Decimal("100")),
        subject=customer,
        source="/tests",
        time=now - timedelta(hours=1),
    )
    await store.add_activity(order)  # an existing document, as in the CI failure

    await asyncio.gather(
        *(store.add_activity(call) for call in calls), store.erase(customer, at=now)
    )

    doc = await store.activity.find_one({"_id": customer})
    assert doc is not None
    assert {item["event_id"] for item in doc["items"]} == {call.id for call in calls} | {order.id}
    assert all(item.get("subject") is None for item in doc["items"])
    assert all(item.get("agent") is None for item in doc["items"])
