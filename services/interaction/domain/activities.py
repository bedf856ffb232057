"""Contacts and orders as recorded facts: each becomes one document carrying its one event.

Every fact has a deterministic document id derived from the source's own id, so recording the
same fact twice (a retried request, a re-sent batch, a replayed Kafka message, or the same
contact arriving over HTTP and Kafka) collides on `_id` and records nothing new. The event id is
derived from the document id too, so a re-emission is recognisably the same event downstream.
No I/O happens here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from shared.events import Event, EventData, new_event
from shared.events.envelope import check_event_time as checked_event_time
from shared.events.interaction import (
    InteractionRecorded,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    OrderReturned,
)
from shared.events.vocabulary import Channel, Direction
from shared.mongo import Document

SOURCE = "/services/interaction"


class Kind(StrEnum):
    """What a timeline entry is."""

    INTERACTION = "interaction"
    ORDER_PLACED = "order_placed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_RETURNED = "order_returned"


@dataclass(frozen=True)
class RecordInteraction:
    customer_id: str
    channel: Channel
    direction: Direction
    occurred_at: datetime
    source_system: str
    external_id: str
    agent: str | None = None
    duration_s: int | None = None
    subject: str | None = None
    outcome: str | None = None
    sentiment: float | None = None
    summary: str | None = None


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    order_id: str
    amount: Decimal
    ordered_at: datetime
    lines: tuple[OrderLine, ...] = ()
    currency: str = "CNY"
    source_system: str | None = None


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    cancelled_at: datetime
    amount: Decimal | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReturnOrder:
    order_id: str
    return_id: str
    amount: Decimal
    returned_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Recorded:
    """A fact ready to store: its document and the event that goes out with it."""

    document: Document
    event: Event[Any]

    @property
    def id(self) -> str:
        doc_id: str = self.document["_id"]
        return doc_id


def readdressed(recorded: Recorded, customer_id: str) -> Recorded:
    """The same fact recorded under another customer (the survivor of a merged id it was
    addressed to): same document and event ids, so idempotence holds across the merge;
    `merged_from` keeps the id it was addressed to."""
    addressed_to = recorded.document["customer_id"]
    if addressed_to == customer_id:
        return recorded
    document = {**recorded.document, "customer_id": customer_id, "merged_from": addressed_to}
    return Recorded(document, recorded.event.model_copy(update={"subject": customer_id}))


def resolved_reference(recorded: Recorded, customer_id: str) -> Recorded:
    """The same fact, sent with a customer reference (`phone:…`, `email:…`, `erp:…`) as its
    customer, recorded under the customer the reference belongs to; `addressed_as` keeps the
    reference. Same document and event ids: resending it by id or by reference is a repeat."""
    reference = recorded.document["customer_id"]
    document = {**recorded.document, "customer_id": customer_id, "addressed_as": reference}
    return Recorded(document, recorded.event.model_copy(update={"subject": customer_id}))


def to_millis(moment: datetime) -> datetime:
    """`moment` cut to what Mongo stores (milliseconds), so stored and emitted times agree."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_event_time(at: datetime, *, now: datetime, max_future_skew: timedelta) -> datetime:
    """The event time as stored: the shared rule (shared.events), cut to milliseconds."""
    return to_millis(checked_event_time(at, now=now, max_future_skew=max_future_skew))


def interaction_id_for(source_system: str, external_id: str) -> str:
    """The interaction's id: the same for the same (source system, source's own id)."""
    name = f"interaction\x00{source_system}\x00{external_id}"
    return f"int-{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}"


def order_doc_id(order_id: str) -> str:
    return f"order:{order_id}"


def cancellation_doc_id(order_id: str) -> str:
    return f"order-cancel:{order_id}"


def return_doc_id(order_id: str, return_id: str) -> str:
    return f"order-return:{order_id}:{return_id}"


def event_id_for(doc_id: str) -> str:
    """The id of the event a document was recorded with (stable across re-emissions)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crm-interaction-service:{doc_id}"))


def _event(
    doc: Document,
    data: EventData,
    *,
    actor: str | None,
    correlation_id: str | None,
) -> Event[Any]:
    return new_event(
        data,
        subject=doc["customer_id"],
        source=SOURCE,
        time=doc["occurred_at"],
        actor=actor,
        correlation_id=correlation_id,
        event_id=event_id_for(doc["_id"]),
    )


def record_interaction(
    command: RecordInteraction,
    *,
    received_at: datetime,
    actor: str | None = None,
    correlation_id: str | None = None,
) -> Recorded:
    """The interaction's document and its `crm.interaction.recorded.v1` event."""
    doc_id = interaction_id_for(command.source_system, command.external_id)
    doc: Document = {
        "_id": doc_id,
        "kind": Kind.INTERACTION.value,
        "customer_id": command.customer_id,
        "occurred_at": to_millis(command.occurred_at),
        "received_at": to_millis(received_at),
        "channel": command.channel.value,
        "direction": command.direction.value,
        "agent": command.agent,
        "duration_s": command.duration_s,
        "subject": command.subject,
        "outcome": command.outcome,
        "sentiment": command.sentiment,
        "summary": command.summary,
        "source_system": command.source_system,
        "external_id": command.external_id,
    }
    data = InteractionRecorded(
        interaction_id=doc_id,
        channel=command.channel,
        direction=command.direction,
        agent=command.agent,
        duration_s=command.duration_s,
        subject=command.subject,
        outcome=command.outcome,
        sentiment=command.sentiment,
        source_system=command.source_system,
    )
    return Recorded(doc, _event(doc, data, actor=actor, correlation_id=correlation_id))


def _line(line: OrderLine) -> Document:
    # Decimals are stored as strings: exact, and portable across FerretDB and MongoDB.
    return {
        "product_code": line.product_code,
        "segment": line.segment,
        "quantity": str(line.quantity),
        "unit_price": str(line.unit_price),
    }


def place_order(
    command: PlaceOrder,
    *,
    received_at: datetime,
    actor: str | None = None,
    correlation_id: str | None = None,
) -> Recorded:
    """The order's document and its `crm.order.placed.v1` event."""
    doc: Document = {
        "_id": order_doc_id(command.order_id),
        "kind": Kind.ORDER_PLACED.value,
        "customer_id": command.customer_id,
        "occurred_at": to_millis(command.ordered_at),
        "received_at": to_millis(received_at),
        "order_id": command.order_id,
        "lines": [_line(line) for line in command.lines],
        "amount": str(command.amount),
        "currency": command.currency,
        "source_system": command.source_system,
    }
    data = OrderPlaced(
        order_id=command.order_id,
        lines=command.lines,
        amount=command.amount,
        currency=command.currency,
    )
    return Recorded(doc, _event(doc, data, actor=actor, correlation_id=correlation_id))


def cancel_order(
    command: CancelOrder,
    order: Document,
    *,
    received_at: datetime,
    actor: str | None = None,
    correlation_id: str | None = None,
) -> Recorded:
    """The cancellation of a stored order (at most one per order) and its event."""
    amount = command.amount if command.amount is not None else Decimal(order["amount"])
    doc: Document = {
        "_id": cancellation_doc_id(command.order_id),
        "kind": Kind.ORDER_CANCELLED.value,
        "customer_id": order["customer_id"],
        "occurred_at": to_millis(command.cancelled_at),
        "received_at": to_millis(received_at),
        "order_id": command.order_id,
        "amount": str(amount),
        "currency": order["currency"],
        "reason": command.reason,
    }
    data = OrderCancelled(
        order_id=command.order_id, amount=amount, currency=order["currency"], reason=command.reason
    )
    return Recorded(doc, _event(doc, data, actor=actor, correlation_id=correlation_id))


def return_order(
    command: ReturnOrder,
    order: Document,
    *,
    received_at: datetime,
    actor: str | None = None,
    correlation_id: str | None = None,
) -> Recorded:
    """One return against a stored order (several per order, each by its own id)."""
    doc: Document = {
        "_id": return_doc_id(command.order_id, command.return_id),
        "kind": Kind.ORDER_RETURNED.value,
        "customer_id": order["customer_id"],
        "occurred_at": to_millis(command.returned_at),
        "received_at": to_millis(received_at),
        "order_id": command.order_id,
        "return_id": command.return_id,
        "amount": str(command.amount),
        "currency": order["currency"],
        "reason": command.reason,
    }
    data = OrderReturned(
        order_id=command.order_id,
        amount=command.amount,
        currency=order["currency"],
        reason=command.reason,
    )
    return Recorded(doc, _event(doc, data, actor=actor, correlation_id=correlation_id))


def from_ingested(event: Event[Any], *, received_at: datetime) -> Recorded | None:
    """What an event from the contact-center ingest topic records, or None if nothing.

    The ingested event's own id becomes the correlation id of the event we publish; the
    idempotency key is the source's id inside the data (interaction id, order id), so the same
    fact sent over HTTP and over Kafka is recorded once.
    """
    data = event.data
    common: dict[str, Any] = {
        "received_at": received_at,
        "actor": event.actor,
        "correlation_id": event.correlationid or event.id,
    }
    if isinstance(data, InteractionRecorded):
        command = RecordInteraction(
            customer_id=event.subject,
            channel=data.channel,
            direction=data.direction,
            occurred_at=event.time,
            source_system=data.source_system or event.source,
            external_id=data.interaction_id,
            agent=data.agent,
            duration_s=data.duration_s,
            subject=data.subject,
            outcome=data.outcome,
            sentiment=data.sentiment,
        )
        return record_interaction(command, **common)
    if isinstance(data, OrderPlaced):
        order = PlaceOrder(
            customer_id=event.subject,
            order_id=data.order_id,
            amount=data.amount,
            ordered_at=event.time,
            lines=data.lines,
            currency=data.currency,
            source_system=event.source,
        )
        return place_order(order, **common)
    # The event carries the customer, amount and currency, so no stored order is needed.
    known = {"customer_id": event.subject, "currency": getattr(data, "currency", "CNY")}
    if isinstance(data, OrderCancelled):
        cancel = CancelOrder(
            order_id=data.order_id,
            cancelled_at=event.time,
            amount=data.amount,
            reason=data.reason,
        )
        return cancel_order(cancel, known, **common)
    if isinstance(data, OrderReturned):
        returned = ReturnOrder(
            order_id=data.order_id,
            return_id=event.id,
            amount=data.amount,
            returned_at=event.time,
            reason=data.reason,
        )
        return return_order(returned, known, **common)
    return None
