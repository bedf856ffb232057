"""Events this service consumes: merged and erased customers (topic crm.customer.v1).

The shared EventConsumer decodes, validates, dedupes by event id and dead-letters poison; these
handlers are idempotent on top of that, so a replayed merge or erasure changes nothing:

- `crm.customer.merged.v1` (subject = the survivor): every complaint of a merged-away id is
  re-keyed to the survivor, so the survivor's complaint list and statistics include them; the
  merged-away id is remembered as an alias, so a complaint opened later under the old id lands
  on the survivor too.
- `crm.customer.erased.v1` (subject = the erased customer): personal data is removed from the
  customer's complaints (see `commands.erased` for what goes and what stays). Complaints of ids
  merged into it were re-keyed by the merge, which the customer topic delivers first (both
  events are keyed by the survivor, so they share a partition).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.complaint import commands
from services.complaint.store import ComplaintStore
from shared.consumer import Handler
from shared.events import Event
from shared.events.customer import CustomerErased, CustomerMerged

Clock = Callable[[], datetime]


async def merge(event: Event[Any], *, store: ComplaintStore) -> None:
    """Re-key the merged-away customers' complaints to the survivor."""
    data: CustomerMerged = event.data
    survivor_id = event.subject
    merged_ids = [each for each in data.merged_ids if each != survivor_id]
    # The alias first: a complaint opened under an old id from now on goes to the survivor,
    # and one opened just before is found by the scan that follows.
    await store.remember_merge(merged_ids, survivor_id=survivor_id)
    for merged_id in merged_ids:
        await store.rewrite_customer(
            merged_id, lambda doc: commands.rekey(doc, survivor_id=survivor_id)
        )


async def erase(event: Event[Any], *, store: ComplaintStore, clock: Clock) -> None:
    """Remove the erased customer's personal data from their complaints."""
    at = clock()
    await store.rewrite_customer(event.subject, lambda doc: commands.erased(doc, at=at))


def customer_handlers(store: ComplaintStore, *, clock: Clock) -> dict[str, Handler]:
    """The routing table of the crm.customer.v1 consumer: event type → handler."""

    async def merged(event: Event[Any]) -> None:
        await merge(event, store=store)

    async def erased(event: Event[Any]) -> None:
        await erase(event, store=store, clock=clock)

    return {CustomerMerged.event_type: merged, CustomerErased.event_type: erased}
