"""Events this service consumes, stored exactly like the HTTP path.

The shared EventConsumer decodes (binary or structured CloudEvents), validates, dedupes by event
id and dead-letters poison. The ingest handlers turn each event from the contact-center topic
into the same fact an HTTP request would record, idempotent by the source's own id; an event
addressed by a customer reference (phone, e-mail, ERP code) is resolved through the read model
kept by the customer handlers, or parked until that customer appears.

The customer handlers also follow the archive's merges and erasures (domain/merge.py,
domain/erasure.py): a merge re-keys the merged ids' facts and references to the survivor and
makes later facts for those ids land there; an erasure empties the customer's personal data
and drops its references and parked events. An ingested fact for an erased customer raises
ErasedCustomer, so the consumer dead-letters it with that reason. Each step is idempotent: a
replayed merge finds nothing left to move, a replayed erasure nothing left to empty.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.interaction.domain import activities, merge, references
from services.interaction.domain.activities import Recorded
from services.interaction.store import (
    ActivityStore,
    CustomerStatusStore,
    FactWriter,
    ReferenceStore,
)
from shared.consumer import Handler
from shared.events import Event
from shared.events.customer import (
    CustomerCreated,
    CustomerErased,
    CustomerMerged,
    CustomerUpdated,
)
from shared.events.interaction import (
    InteractionRecorded,
    OrderCancelled,
    OrderPlaced,
    OrderReturned,
)

Clock = Callable[[], datetime]


async def record(
    event: Event[Any], *, store: FactWriter, status: CustomerStatusStore, clock: Clock
) -> None:
    """Store the fact an event (addressed to a customer id) carries, under the survivor if that
    id was merged away; a repeat stores nothing. Raises ErasedCustomer for an erased one."""
    now = clock()
    recorded = activities.from_ingested(event, received_at=now)
    if recorded is not None:
        await store.insert(await status.addressed(recorded), queued_at=now)


async def record_ingested(
    event: Event[Any],
    *,
    store: FactWriter,
    refs: ReferenceStore,
    status: CustomerStatusStore,
    clock: Clock,
) -> None:
    """Record an ingested event, resolving a customer reference or parking it."""
    ref = references.reference_in(event.subject)
    if ref is not None:
        customer_id = await refs.resolve_or_park(ref, event, at=clock())
        if customer_id is None:
            return
        event = references.resolved(event, customer_id)
    await record(event, store=store, status=status, clock=clock)


async def learn_customer(
    event: Event[Any],
    *,
    store: ActivityStore,
    refs: ReferenceStore,
    status: CustomerStatusStore,
    clock: Clock,
) -> None:
    """Remember the customer's references, then record the events parked under them.

    A replayed profile of a customer merged away since is learnt for its survivor; one of an
    erased customer is not learnt at all (its references must not resolve again).
    """
    data = event.data
    if not isinstance(data, CustomerCreated | CustomerUpdated | CustomerMerged):
        return
    resolution = await status.resolve(event.subject)
    if resolution.erased:
        return
    customer_id = resolution.customer_id
    known = references.references_of(data.profile)
    await refs.remember(known, customer_id, at=clock())
    for ref in known:
        for parked_id, parked, fact in await refs.parked_for(ref):
            if fact is None:  # from the ingest topic
                resolved = references.resolved(parked, customer_id)
                await record(resolved, store=store, status=status, clock=clock)
            else:  # from HTTP, parked whole
                recorded = activities.resolved_reference(Recorded(fact, parked), customer_id)
                await store.insert(await status.addressed(recorded), queued_at=clock())
            await refs.unpark(parked_id)


async def merge_customers(
    event: Event[Any],
    *,
    store: ActivityStore,
    refs: ReferenceStore,
    status: CustomerStatusStore,
    clock: Clock,
) -> None:
    """Re-key the merged ids' facts and references to the survivor; later facts follow.

    The merged ids are marked first, so a fact arriving while the old ones move is recorded
    under the survivor. Nothing is re-published: the facts' events went out under the ids of
    their time, and the scorer and the customer 360 follow the merge event themselves.
    """
    data = event.data
    if not isinstance(data, CustomerMerged):
        return
    merged = merge.merged_away(event.subject, data.merged_ids)
    await status.mark_merged(merged, event.subject, at=clock())
    # The survivor itself may have been merged on (or erased) meanwhile: go to the chain's end.
    survivor = await status.resolve(event.subject)
    await refs.repoint(merged, survivor.customer_id)
    await store.rekey(merged, survivor.customer_id)
    if survivor.erased:
        await erase_customer_data(survivor.customer_id, store=store, refs=refs, at=clock())
        return
    await learn_customer(event, store=store, refs=refs, status=status, clock=clock)


async def erase_customer_data(
    customer_id: str, *, store: ActivityStore, refs: ReferenceStore, at: datetime
) -> None:
    """Drop the customer's references (and what is parked under them), empty its facts."""
    await refs.forget_customer(customer_id)
    await store.erase(customer_id, at=at)


async def erase_customer(
    event: Event[Any],
    *,
    store: ActivityStore,
    refs: ReferenceStore,
    status: CustomerStatusStore,
    clock: Clock,
) -> None:
    """Refuse the customer's facts from now on, then remove its personal data here."""
    now = clock()
    await status.mark_erased(event.subject, at=now)
    await erase_customer_data(event.subject, store=store, refs=refs, at=now)


INGESTED_TYPES = (InteractionRecorded, OrderPlaced, OrderCancelled, OrderReturned)


def ingest_handlers(
    store: FactWriter, refs: ReferenceStore, status: CustomerStatusStore, *, clock: Clock
) -> dict[str, Handler]:
    """The routing table of the ingest consumer: event type → handler (`store` is the batch's
    FactBuffer in the service, flushed by the consumer after each batch)."""

    async def handle(event: Event[Any]) -> None:
        await record_ingested(event, store=store, refs=refs, status=status, clock=clock)

    return {data.event_type: handle for data in INGESTED_TYPES}


def customer_handlers(
    store: ActivityStore, refs: ReferenceStore, status: CustomerStatusStore, *, clock: Clock
) -> dict[str, Handler]:
    """The routing table of the customer read-model consumer."""

    def bound(handler: Callable[..., Awaitable[None]]) -> Handler:
        async def handle(event: Event[Any]) -> None:
            await handler(event, store=store, refs=refs, status=status, clock=clock)

        return handle

    return {
        CustomerCreated.event_type: bound(learn_customer),
        CustomerUpdated.event_type: bound(learn_customer),
        CustomerMerged.event_type: bound(merge_customers),
        CustomerErased.event_type: bound(erase_customer),
    }
