"""Erasure of a customer's facts: personal text goes, the facts statistics need stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from services.interaction.domain import activities
from services.interaction.domain.erasure import (
    PERSONAL_FIELDS,
    erased_event_data,
    erased_fields,
)
from shared.events.interaction import OrderLine
from shared.events.vocabulary import Channel, Direction

AT = datetime(2025, 3, 1, 8, tzinfo=UTC)
LATER = datetime(2025, 6, 1, tzinfo=UTC)


def contact() -> activities.Recorded:
    return activities.record_interaction(
        activities.RecordInteraction(
            customer_id="c-1",
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            occurred_at=AT,
            source_system="cc",
            external_id="call-1",
            agent="wang",
            duration_s=240,
            subject="Valve leakage, call 王经理 on +86 138 0000 0000",
            outcome="callback_scheduled",
            sentiment=-0.4,
            summary="Angry about batch 2411",
        ),
        received_at=AT,
    )


def test_a_contact_loses_its_text_and_keeps_its_facts() -> None:
    doc = contact().document
    fields = erased_fields(doc, at=LATER)
    assert fields == {
        "subject": None,
        "summary": None,
        "outcome": None,
        "sentiment": None,
        "erased_at": LATER,
    }
    erased = {**doc, **fields}
    for kept in ("channel", "direction", "agent", "duration_s", "occurred_at", "external_id"):
        assert erased[kept] == doc[kept]
    assert erased_fields(erased, at=LATER) == {}  # erasing again changes nothing


def test_an_order_keeps_amounts_and_products() -> None:
    order = activities.place_order(
        activities.PlaceOrder(
            customer_id="c-1",
            order_id="SO-1",
            amount=Decimal("100"),
            ordered_at=AT,
            lines=(OrderLine(product_code="AER-65", quantity=Decimal(10), unit_price=Decimal(10)),),
        ),
        received_at=AT,
    ).document
    assert erased_fields(order, at=LATER) == {"erased_at": LATER}  # nothing personal in it
    cancelled = activities.cancel_order(
        activities.CancelOrder(order_id="SO-1", cancelled_at=AT, reason="buyer 李伟 left"),
        order,
        received_at=AT,
    ).document
    assert erased_fields(cancelled, at=LATER) == {"reason": None, "erased_at": LATER}


def test_event_data_loses_the_same_fields() -> None:
    data = json.loads(contact().event.data.model_dump_json())
    erased = erased_event_data(data)
    assert set(erased) == set(data)
    assert all(erased[name] is None for name in PERSONAL_FIELDS if name in data)
    assert erased["channel"] == "phone" and erased["duration_s"] == 240
    assert erased["interaction_id"] == data["interaction_id"]
