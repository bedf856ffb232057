"""Recording facts: deterministic ids, event time rules, the events that go out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.interaction.domain import activities
from services.interaction.domain.activities import (
    CancelOrder,
    PlaceOrder,
    RecordInteraction,
    ReturnOrder,
)
from shared.events import new_event
from shared.events.envelope import EventTimeInFuture
from shared.events.interaction import InteractionRecorded, OrderLine, OrderReturned
from shared.events.vocabulary import Channel, Direction

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)


def contact(**overrides: object) -> RecordInteraction:
    fields: dict[str, object] = {
        "customer_id": "C-1",
        "channel": Channel.PHONE,
        "direction": Direction.INBOUND,
        "occurred_at": NOW - timedelta(days=400),
        "source_system": "cc",
        "external_id": "call-1",
        "summary": "asked for a quote",
    } | overrides
    return RecordInteraction(**fields)  # type: ignore[arg-type]


def test_same_source_id_gives_same_document_and_event_ids() -> None:
    first = activities.record_interaction(contact(), received_at=NOW)
    again = activities.record_interaction(contact(agent="li"), received_at=NOW + SKEW)
    other = activities.record_interaction(contact(source_system="cc2"), received_at=NOW)
    assert first.id == again.id != other.id
    assert first.event.id == again.event.id != other.event.id


def test_interaction_event_carries_the_contact() -> None:
    recorded = activities.record_interaction(contact(sentiment=0.5), received_at=NOW)
    event = recorded.event
    assert event.type == "crm.interaction.recorded.v1"
    assert event.subject == "C-1"
    assert event.time == NOW - timedelta(days=400)
    assert isinstance(event.data, InteractionRecorded)
    assert event.data.interaction_id == recorded.id
    assert event.data.sentiment == 0.5
    assert recorded.document["summary"] == "asked for a quote"
    assert recorded.document["kind"] == "interaction"


def test_event_time_past_is_fine_future_only_within_skew() -> None:
    past = NOW - timedelta(days=3650)
    assert activities.check_event_time(past, now=NOW, max_future_skew=SKEW) == past
    near = NOW + timedelta(minutes=4)
    assert activities.check_event_time(near, now=NOW, max_future_skew=SKEW) == near
    with pytest.raises(EventTimeInFuture):
        activities.check_event_time(NOW + timedelta(minutes=6), now=NOW, max_future_skew=SKEW)
    with pytest.raises(ValueError, match="time zone"):
        activities.check_event_time(datetime(2026, 1, 1), now=NOW, max_future_skew=SKEW)


def test_stored_times_are_cut_to_milliseconds() -> None:
    at = datetime(2026, 11, 1, 8, 0, 0, 123456, tzinfo=UTC)
    recorded = activities.record_interaction(contact(occurred_at=at), received_at=NOW)
    assert recorded.document["occurred_at"].microsecond == 123000
    assert recorded.event.time == recorded.document["occurred_at"]


def test_order_then_cancel_and_returns() -> None:
    order = activities.place_order(
        PlaceOrder(
            customer_id="C-1",
            order_id="SO-1",
            amount=Decimal("1200.50"),
            ordered_at=NOW,
            lines=(
                OrderLine(
                    product_code="CAN-330", quantity=Decimal(1000), unit_price=Decimal("1.2005")
                ),
            ),
        ),
        received_at=NOW,
    )
    assert order.id == "order:SO-1"
    assert order.document["amount"] == "1200.50"
    assert order.document["lines"][0]["unit_price"] == "1.2005"
    cancel = activities.cancel_order(
        CancelOrder(order_id="SO-1", cancelled_at=NOW), order.document, received_at=NOW
    )
    assert cancel.id == "order-cancel:SO-1"
    assert cancel.event.subject == "C-1"
    assert cancel.document["amount"] == "1200.50"  # defaults to the order's amount
    first = activities.return_order(
        ReturnOrder(order_id="SO-1", return_id="R-1", amount=Decimal(10), returned_at=NOW),
        order.document,
        received_at=NOW,
    )
    second = activities.return_order(
        ReturnOrder(order_id="SO-1", return_id="R-2", amount=Decimal(10), returned_at=NOW),
        order.document,
        received_at=NOW,
    )
    assert first.id != second.id
    assert first.event.type == "crm.order.returned.v1"


def test_ingested_events_are_keyed_by_the_sources_ids() -> None:
    ingested = new_event(
        InteractionRecorded(
            interaction_id="call-1",
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            source_system="cc",
        ),
        subject="C-1",
        source="/contact-center",
        time=NOW - timedelta(days=400),
    )
    recorded = activities.from_ingested(ingested, received_at=NOW)
    assert recorded is not None
    # The same contact over HTTP and over Kafka is one fact.
    assert recorded.id == activities.record_interaction(contact(), received_at=NOW).id
    assert recorded.event.correlationid == ingested.id
    returned = new_event(
        OrderReturned(order_id="SO-1", amount=Decimal(5)),
        subject="C-1",
        source="/erp",
        time=NOW,
    )
    recorded_return = activities.from_ingested(returned, received_at=NOW)
    assert recorded_return is not None
    assert recorded_return.document["customer_id"] == "C-1"
    assert recorded_return.document["return_id"] == returned.id
