"""Events this service consumes, stored exactly like the HTTP path.

The shared EventConsumer decodes (binary or structured CloudEvents), validates, dedupes by event
id and dead-letters poison. The ingest handlers turn each event from the contact-center topic
into the same fact an HTTP request would record, idempotent by the source's own id; an event
addressed by a customer reference (phone, e-mail, ERP code) is resolved through the read model
kept by the customer handlers, or parked until that customer appears.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.interaction.domain import activities, references
from services.interaction.store import ActivityStore, ReferenceStore
from shared.consumer import Handler
from shared.events import Event
from shared.events.customer import CustomerCreated, CustomerMerged, CustomerUpdated
from shared.events.interaction import (
    InteractionRecorded,
    OrderCancelled,
    OrderPlaced,
    OrderReturned,
)

Clock = Callable[[], datetime]


async def record(event: Event[Any], *, store: ActivityStore, clock: Clock) -> None:
    """Store the fact an event (addressed to a customer id) carries; a repeat stores nothing."""
    now = clock()
    recorded = activities.from_ingested(event, received_at=now)
    if recorded is not None:
        await store.insert(recorded, queued_at=now)


async def record_ingested(
    event: Event[Any], *, store: ActivityStore, refs: ReferenceStore, clock: Clock
) -> None:
    """Record an ingested event, resolving a customer reference or parking it."""
    ref = references.reference_in(event.subject)
    if ref is not None:
        customer_id = await refs.lookup(ref)
        if customer_id is None:
            parked_id = await refs.park(ref, event, at=clock())
            # Looked up again after parking: a customer that appeared in between has had its
            # parked events scanned already, possibly before this one was parked.
            customer_id = await refs.lookup(ref)
            if customer_id is None:
                return
            await refs.unpark(parked_id)
        event = references.resolved(event, customer_id)
    await record(event, store=store, clock=clock)


async def learn_customer(
    event: Event[Any], *, store: ActivityStore, refs: ReferenceStore, clock: Clock
) -> None:
    """Remember the customer's references, then record the events parked under them."""
    data = event.data
    if not isinstance(data, CustomerCreated | CustomerUpdated | CustomerMerged):
        return
    known = references.references_of(data.profile)
    await refs.remember(known, event.subject, at=clock())
    for ref in known:
        for parked_id, parked in await refs.parked_for(ref):
            await record(references.resolved(parked, event.subject), store=store, clock=clock)
            await refs.unpark(parked_id)


INGESTED_TYPES = (InteractionRecorded, OrderPlaced, OrderCancelled, OrderReturned)
CUSTOMER_TYPES = (CustomerCreated, CustomerUpdated, CustomerMerged)


def ingest_handlers(
    store: ActivityStore, refs: ReferenceStore, *, clock: Clock
) -> dict[str, Handler]:
    """The routing table of the ingest consumer: event type → handler."""

    async def handle(event: Event[Any]) -> None:
        await record_ingested(event, store=store, refs=refs, clock=clock)

    return {data.event_type: handle for data in INGESTED_TYPES}


def customer_handlers(
    store: ActivityStore, refs: ReferenceStore, *, clock: Clock
) -> dict[str, Handler]:
    """The routing table of the customer read-model consumer."""

    async def handle(event: Event[Any]) -> None:
        await learn_customer(event, store=store, refs=refs, clock=clock)

    return {data.event_type: handle for data in CUSTOMER_TYPES}
