"""Customer 360 on the real stack: events published to the real topics show up in the view.

Each test's app consumes with its own consumer group whose offsets start at the topics'
current ends, so it neither competes with other tests nor re-reads earlier runs' messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.customer.app import create_app
from services.customer.settings import Settings
from shared.events import EventData, new_event
from shared.events.complaint import ComplaintClosed, ComplaintOpened
from shared.events.interaction import InteractionRecorded, OrderPlaced
from shared.events.scoring import ChurnReason, ChurnRisk, LoyaltyScore, ScoreUpdated
from shared.events.vocabulary import (
    Channel,
    ChurnBand,
    ComplaintCategory,
    Direction,
    Lifecycle,
    Severity,
    ValueTier,
)
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import COMPLAINT, CUSTOMER, INTERACTION, SCORES
from tests.conftest import unique
from tests.integration.customer.conftest import create
from tests.integration.messaging_support import group_at_end

TOPICS = (SCORES, INTERACTION, COMPLAINT, CUSTOMER)


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    settings = Settings(
        **connection.model_dump(),
        view360_enabled=True,
        view360_group_id=await group_at_end(connection, *TOPICS),
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        deadline = time.monotonic() + 30
        while not application.state.view360.assigned:
            assert time.monotonic() < deadline, "the 360 consumer got no partitions"
            await asyncio.sleep(0.1)
        yield application


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-360")
    await events.start()
    yield events
    await events.stop()


def ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


async def publish(
    producer: EventProducer, data: EventData, *, customer_id: str, at: datetime
) -> None:
    event = new_event(data, subject=customer_id, source="/tests/customer-360", time=at)
    await producer.publish([event])


async def until(
    client: httpx.AsyncClient,
    customer_id: str,
    condition: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """The 360 once `condition` holds; fails with the last view on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/v1/customers/{customer_id}/360")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        if condition(view):
            return view
        assert time.monotonic() < deadline, f"360 not as expected after {timeout}s: {view}"
        await asyncio.sleep(0.2)


def score_event(as_of: datetime, *, risk: float) -> ScoreUpdated:
    return ScoreUpdated(
        loyalty=LoyaltyScore(score=64.0, band="steady"),
        churn=ChurnRisk(
            risk=risk,
            band=ChurnBand.MEDIUM,
            horizon_days=90,
            reasons=(
                ChurnReason(
                    code="order_gap",
                    contribution=0.8,
                    share=1.0,
                    params={"days": 45},
                    text="No order for 45 days, twice the usual interval",
                ),
            ),
        ),
        value_tier=ValueTier.A,
        lifecycle=Lifecycle.AT_RISK,
        trend="up",
        model_version="test-1",
        computed_at=as_of,
        as_of=as_of,
    )


def interaction(subject: str) -> InteractionRecorded:
    return InteractionRecorded(
        interaction_id=unique("call"),
        channel=Channel.PHONE,
        direction=Direction.INBOUND,
        agent="wang",
        subject=subject,
    )


def order(order_id: str) -> OrderPlaced:
    return OrderPlaced(order_id=order_id, amount=Decimal("10200.00"))


async def test_360_shows_score_activity_newest_first_and_open_complaints(
    client: httpx.AsyncClient, producer: EventProducer
) -> None:
    customer_id = (await create(client)).json()["id"]
    empty = (await client.get(f"/v1/customers/{customer_id}/360")).json()
    assert empty["score"] is None and empty["recent_activity"] == []
    assert empty["open_complaints"] == []

    async def send(data: EventData, at: datetime) -> None:
        await publish(producer, data, customer_id=customer_id, at=at)

    # A scorer may run on the same stack and score this customer from the events below; ours
    # is dated a minute ahead so that it stays the latest.
    await send(score_event(ago(-1 / 60), risk=0.4), ago(0))
    await send(score_event(ago(5), risk=0.9), ago(5))  # older: must not replace
    await send(interaction("Valve leakage on batch 2411"), ago(30))
    await send(order("SO-new"), ago(1))
    await send(order("SO-old"), ago(50))
    open_id, closed_id = unique("cmp"), unique("cmp")
    for complaint_id, title in ((open_id, "Leaking valves"), (closed_id, "Late delivery")):
        opened = ComplaintOpened(
            complaint_id=complaint_id,
            category=ComplaintCategory.PRODUCT_QUALITY,
            severity=Severity.HIGH,
            title=title,
            resolution_due=ago(-48),
        )
        await send(opened, ago(20))
    await send(ComplaintClosed(complaint_id=closed_id), ago(3))

    view = await until(
        client,
        customer_id,
        lambda v: (
            (v["score"] or {}).get("model_version") == "test-1"
            and v["score"]["churn"]["risk"] == 0.4
            and len(v["recent_activity"]) == 3
            and [c["complaint_id"] for c in v["open_complaints"]] == [open_id]
        ),
    )
    assert view["profile"]["id"] == customer_id
    score = view["score"]
    assert score["churn"]["risk"] == 0.4 and score["churn"]["band"] == "medium"
    assert score["churn"]["reasons"][0]["code"] == "order_gap"
    assert score["loyalty"]["score"] == 64.0
    assert (score["value_tier"], score["lifecycle"], score["trend"]) == ("A", "at_risk", "up")
    activity = view["recent_activity"]
    assert [a["kind"] for a in activity] == ["order_placed", "interaction", "order_placed"]
    assert [a.get("order_id") for a in activity] == ["SO-new", None, "SO-old"]
    assert activity[1]["subject"] == "Valve leakage on batch 2411"
    complaint = view["open_complaints"][0]
    assert (complaint["state"], complaint["severity"]) == ("new", "high")
    assert complaint["title"] == "Leaking valves" and complaint["resolution_due"]


async def test_merged_activity_shows_under_the_survivor_and_erasure_scrubs_the_view(
    client: httpx.AsyncClient, producer: EventProducer
) -> None:
    survivor = await create(client, external_ids={})
    merged = await create(client)
    survivor_id, merged_id = survivor.json()["id"], merged.json()["id"]
    await publish(producer, order("SO-survivor"), customer_id=survivor_id, at=ago(10))
    await publish(
        producer, interaction("Printing defect complaint call"), customer_id=merged_id, at=ago(4)
    )
    await until(client, merged_id, lambda v: len(v["recent_activity"]) == 1)

    response = await client.post(
        f"/v1/customers/{survivor_id}/merge",
        json={"merged_ids": [merged_id]},
        headers={"If-Match": survivor.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    # The merge event travels outbox -> crm.customer.v1 -> the 360 consumer.
    view = await until(client, merged_id, lambda v: len(v["recent_activity"]) == 2)
    assert view["profile"]["id"] == survivor_id
    assert [a["kind"] for a in view["recent_activity"]] == ["interaction", "order_placed"]
    assert view["recent_activity"][0]["subject"] == "Printing defect complaint call"

    response = await client.post(f"/v1/customers/{merged_id}/erase", json={})
    assert response.status_code == 409  # a merged id is erased through its survivor
    erased = await client.post(f"/v1/customers/{survivor_id}/erase", json={"reason": "request"})
    assert erased.status_code == 200, erased.text
    await publish(producer, interaction("Sent after erasure"), customer_id=survivor_id, at=ago(1))
    view = await until(
        client,
        survivor_id,
        lambda v: (
            len(v["recent_activity"]) == 3
            and all(a.get("subject") is None for a in v["recent_activity"])
        ),
    )
    assert view["profile"]["contacts"] == [] and view["profile"]["phones"] == []
    interactions = [a for a in view["recent_activity"] if a["kind"] == "interaction"]
    assert len(interactions) == 2  # the survivor's own and the merged customer's
    assert all(a["subject"] is None and a["agent"] is None for a in interactions)
    assert all(a["channel"] == "phone" for a in interactions)


async def test_a_score_tombstone_removes_the_score(
    client: httpx.AsyncClient, producer: EventProducer, connection: ConnectionSettings
) -> None:
    customer_id = (await create(client)).json()["id"]
    await publish(producer, score_event(ago(0), risk=0.4), customer_id=customer_id, at=ago(0))
    await until(client, customer_id, lambda v: v["score"] is not None)
    raw = AIOKafkaProducer(bootstrap_servers=connection.kafka_bootstrap_servers)
    await raw.start()
    try:
        await raw.send_and_wait(SCORES.name, key=customer_id.encode(), value=None)
    finally:
        await raw.stop()
    await until(client, customer_id, lambda v: v["score"] is None)
