"""The customer 360 read models, fed by other services' topics (no calls to other services).

One consumer group (`customer-360`) keeps four collections in the service's own database:

- `view_scores`: `_id` = customer id, the latest `crm.score.updated.v1` (replaced only by a
  newer `as_of`); a tombstone on the compacted `crm.scores.v1` deletes it.
- `view_activity`: `_id` = customer id, the newest `ACTIVITY_LIMIT` interactions and orders,
  newest first, in one bounded array. Chosen over one document per activity because the 360
  then reads one document by `_id` (the only filter FerretDB serves from an index) instead of
  a sorted scan. Every event of one customer arrives on one partition of
  `crm.interaction.v1`, handled in order by one coroutine, so the read-modify-write of that
  document has a single writer.
- `view_complaints`: `_id` = complaint id, with `customer_id`, state, severity, title and due
  times, updated by each complaint event (all of one complaint's events share a partition);
  closed complaints stay, marked `open: false`.
- `view_merges`: `_id` = survivor id, the ids merged into it (from `crm.customer.merged.v1`).
  Merges are applied when reading: the 360 of a survivor unites its own documents with those of
  the ids merged into it, so no document is ever written by two consumers' partitions.

Erasure (`crm.customer.erased.v1`): for the customer and every id merged into it, a marker in
`view_erased` is written first, then the activity subjects/agents and the complaint titles are
scrubbed; later events of an erased id are stored without them. An activity handler checks the
marker after its own write, so an interaction written concurrently with the erasure is scrubbed
either by the erasure or by the handler itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from shared.consumer import Handler
from shared.events import Event
from shared.events import complaint as complaints
from shared.events.customer import CustomerErased, CustomerMerged
from shared.events.interaction import (
    InteractionRecorded,
    OrderCancelled,
    OrderPlaced,
    OrderReturned,
)
from shared.events.scoring import ScoreUpdated
from shared.keyed_locks import KeyedLocks
from shared.mongo import Collection, Database, Document

SCORES = "view_scores"
ACTIVITY = "view_activity"
COMPLAINTS = "view_complaints"
MERGES = "view_merges"
ERASED = "view_erased"
PROCESSED = "view360_processed"

ACTIVITY_LIMIT = 20
# Merges of merges: a survivor's merged ids are followed this deep.
MAX_MERGE_DEPTH = 5
ERASED_TEXT = "[erased]"

Clock = Callable[[], datetime]


def _ms(value: datetime) -> datetime:
    """Mongo keeps milliseconds: compare what will be read back."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# -- pure parts (no I/O) -----------------------------------------------------------------------


def activity_entry(event: Event[Any]) -> Document | None:
    """The summary the 360 keeps of an interaction or order event (None: not an activity)."""
    base: Document = {"event_id": event.id, "type": event.type, "at": _ms(event.time)}
    data = event.data
    if isinstance(data, InteractionRecorded):
        return base | {
            "kind": "interaction",
            "interaction_id": data.interaction_id,
            "channel": str(data.channel),
            "direction": str(data.direction),
            "agent": data.agent,
            "subject": data.subject,
            "outcome": data.outcome,
        }
    if isinstance(data, OrderPlaced | OrderCancelled | OrderReturned):
        kind = {
            OrderPlaced: "order_placed",
            OrderCancelled: "order_cancelled",
            OrderReturned: "order_returned",
        }[type(data)]
        return base | {
            "kind": kind,
            "order_id": data.order_id,
            "amount": str(data.amount),
            "currency": data.currency,
        }
    return None


def with_entry(items: Iterable[Document], entry: Document, *, limit: int) -> list[Document]:
    """`items` plus `entry` (once), newest first, at most `limit`."""
    kept = [item for item in items if item["event_id"] != entry["event_id"]]
    kept.append(entry)
    kept.sort(key=lambda item: (item["at"], item["event_id"]), reverse=True)
    return kept[:limit]


def scrubbed_activity(items: Iterable[Document]) -> list[Document]:
    """Activity summaries without personal free text (subject, agent)."""
    return [
        item | {"subject": None, "agent": None} if item.get("kind") == "interaction" else item
        for item in items
    ]


def newer_score(current: Document | None, candidate: Document) -> bool:
    """Whether `candidate` replaces `current` (a later as_of, or the same and computed later)."""
    if current is None:
        return True
    return (candidate["as_of"], candidate["computed_at"]) >= (
        current["as_of"],
        current["computed_at"],
    )


def score_document(event: Event[ScoreUpdated]) -> Document:
    data = event.data
    return {
        "_id": event.subject,
        "loyalty": data.loyalty.model_dump(mode="json"),
        "churn": data.churn.model_dump(mode="json"),
        "value_tier": str(data.value_tier),
        "lifecycle": str(data.lifecycle),
        "trend": data.trend,
        "model_version": data.model_version,
        "computed_at": _ms(data.computed_at),
        "as_of": _ms(data.as_of),
        "event_id": event.id,
    }


_STATE_OF: Mapping[type[complaints.ComplaintEvent], str] = {
    complaints.ComplaintOpened: "new",
    complaints.ComplaintAcknowledged: "acknowledged",
    complaints.ComplaintResolved: "resolved",
    complaints.ComplaintReopened: "reopened",
    complaints.ComplaintClosed: "closed",
}


def complaint_fields(event: Event[Any]) -> Document:
    """The fields of a complaint's 360 entry that this event sets."""
    data = event.data
    fields: Document = {"customer_id": event.subject, "updated_at": _ms(event.time)}
    if isinstance(data, complaints.ComplaintOpened):
        fields |= {
            "category": str(data.category),
            "severity": str(data.severity),
            "title": data.title,
            "opened_at": _ms(event.time),
            "first_response_due": data.first_response_due,
            "resolution_due": data.resolution_due,
        }
    if isinstance(data, complaints.ComplaintStatusChanged):
        fields["state"] = str(data.to_state)
    elif type(data) in _STATE_OF:
        fields["state"] = _STATE_OF[type(data)]
    if isinstance(data, complaints.ComplaintEscalated):
        fields |= {"severity": str(data.severity), "escalation_level": data.level}
    if isinstance(data, complaints.ComplaintAssigned):
        fields["assignee"] = data.assignee
    if isinstance(data, complaints.ComplaintSlaBreached):
        fields["sla_breached"] = True
    if "state" in fields:
        fields["open"] = fields["state"] != "closed"
    return fields


# -- the store ---------------------------------------------------------------------------------


class View360Store:
    """Reads and writes the 360 read models in the customer service's own database."""

    def __init__(self, database: Database, *, activity_limit: int = ACTIVITY_LIMIT) -> None:
        self.scores: Collection = database[SCORES]
        self.activity: Collection = database[ACTIVITY]
        self.complaints: Collection = database[COMPLAINTS]
        self.merges: Collection = database[MERGES]
        self.erased: Collection = database[ERASED]
        self.activity_limit = activity_limit
        self._activity_writers = KeyedLocks()

    async def ensure_indexes(self) -> None:
        # Served from the index on MongoDB; FerretDB 1.24 scans (see docs/development.md).
        await self.complaints.create_index("customer_id")

    # -- writes (one consumer group; each document has one writing partition, except the
    # activity documents: see `_change_activity`) ---------------------------------------------

    async def put_score(self, event: Event[ScoreUpdated]) -> None:
        doc = score_document(event)
        current = await self.scores.find_one({"_id": doc["_id"]})
        if newer_score(current, doc):
            await self.scores.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def drop_score(self, customer_id: str) -> None:
        await self.scores.delete_one({"_id": customer_id})

    async def add_activity(self, event: Event[Any]) -> None:
        entry = activity_entry(event)
        if entry is None:
            return
        customer_id = event.subject
        erased = await self.is_erased(customer_id)

        def added(items: list[Document]) -> list[Document]:
            items = with_entry(items, entry, limit=self.activity_limit)
            return scrubbed_activity(items) if erased else items

        await self._change_activity(customer_id, added)
        if not erased and await self.is_erased(customer_id):
            await self.scrub_activity(customer_id)  # erased while we wrote

    async def update_complaint(self, event: Event[Any]) -> None:
        fields = complaint_fields(event)
        if await self.is_erased(event.subject) and "title" in fields:
            fields["title"] = ERASED_TEXT
        await self.complaints.update_one(
            {"_id": event.data.complaint_id}, {"$set": fields}, upsert=True
        )

    async def add_merge(self, event: Event[CustomerMerged]) -> None:
        current = await self.merges.find_one({"_id": event.subject}) or {}
        merged = list(dict.fromkeys([*current.get("merged_ids", []), *event.data.merged_ids]))
        await self.merges.replace_one(
            {"_id": event.subject}, {"_id": event.subject, "merged_ids": merged}, upsert=True
        )

    async def erase(self, customer_id: str, *, at: datetime) -> None:
        """Remove the personal data of the customer, and of the ids merged into it (whose data
        its 360 shows), from the read models; each id's marker is written first."""
        for each in await self.merged_into(customer_id):
            await self.erased.replace_one({"_id": each}, {"_id": each, "at": _ms(at)}, upsert=True)
            await self.scrub_activity(each)
            async for doc in self.complaints.find({"customer_id": each}, {"_id": 1}):
                await self.complaints.update_one(
                    {"_id": doc["_id"]}, {"$set": {"title": ERASED_TEXT}}
                )

    async def scrub_activity(self, customer_id: str) -> None:
        await self._change_activity(customer_id, scrubbed_activity, create=False)

    async def _change_activity(
        self,
        customer_id: str,
        change: Callable[[list[Document]], list[Document]],
        *,
        create: bool = True,
    ) -> None:
        """Read, change and write a customer's activity document, one writer at a time.

        Two consumers write it — the interaction events' (a new entry) and the customer
        events' (an erasure's scrub), on different partitions — and a plain read-then-replace
        let one undo the other: an interaction sent right after an erasure vanished from the
        360 (clean-clone CI, 2026-12-06). In one process a lock per customer orders them; across
        processes the `version` guard does, retrying a write that lost (on MongoDB; FerretDB
        1.24 let two guarded replaces of the same version both match when they raced — a
        throw-away script, 2026-12-06 — so there only the lock holds). A document written
        before the guard has no version, which matches `None`.
        """
        async with self._activity_writers.hold(customer_id):
            while True:
                current = await self.activity.find_one({"_id": customer_id})
                if current is None:
                    if not create:
                        return
                    with contextlib.suppress(DuplicateKeyError):  # created meanwhile: retry
                        doc = {"_id": customer_id, "items": change([]), "version": 1}
                        await self.activity.insert_one(doc)
                        return
                    continue
                version = current.get("version")
                written = await self.activity.replace_one(
                    {"_id": customer_id, "version": version},
                    {
                        "_id": customer_id,
                        "items": change(current.get("items", [])),
                        "version": (version or 0) + 1,
                    },
                )
                if written.matched_count:
                    return

    async def is_erased(self, customer_id: str) -> bool:
        return await self.erased.find_one({"_id": customer_id}) is not None

    # -- reads ---------------------------------------------------------------------------------

    async def merged_into(self, survivor_id: str) -> list[str]:
        """The survivor and every id merged into it (merges of merges too)."""
        ids = [survivor_id]
        frontier = [survivor_id]
        for _ in range(MAX_MERGE_DEPTH):
            found: list[str] = []
            for customer_id in frontier:
                doc = await self.merges.find_one({"_id": customer_id})
                found.extend(i for i in (doc or {}).get("merged_ids", []) if i not in ids)
            if not found:
                break
            ids.extend(dict.fromkeys(found))
            frontier = found
        return ids

    async def view(self, customer_id: str) -> Document:
        """Score, recent activity and open complaints of a (survivor) customer."""
        ids = await self.merged_into(customer_id)
        score = await self.scores.find_one({"_id": customer_id})
        items: list[Document] = []
        for each in ids:
            doc = await self.activity.find_one({"_id": each})
            for item in (doc or {}).get("items", []):
                items = with_entry(items, item, limit=self.activity_limit)
        open_complaints = [
            doc async for doc in self.complaints.find({"customer_id": {"$in": ids}, "open": True})
        ]
        open_complaints.sort(key=lambda doc: doc.get("opened_at") or doc["updated_at"])
        return {"score": score, "recent_activity": items, "open_complaints": open_complaints}


def view360_handlers(store: View360Store, *, clock: Clock) -> dict[str, Handler]:
    """Handlers by event type for the 360 consumer."""

    async def score(event: Event[Any]) -> None:
        await store.put_score(event)

    async def activity(event: Event[Any]) -> None:
        await store.add_activity(event)

    async def complaint(event: Event[Any]) -> None:
        await store.update_complaint(event)

    async def merged(event: Event[Any]) -> None:
        await store.add_merge(event)

    async def erased(event: Event[Any]) -> None:
        await store.erase(event.subject, at=clock())

    handlers: dict[str, Handler] = {ScoreUpdated.event_type: score}
    for kind in (InteractionRecorded, OrderPlaced, OrderCancelled, OrderReturned):
        handlers[kind.event_type] = activity
    for spec in (
        complaints.ComplaintOpened,
        complaints.ComplaintAcknowledged,
        complaints.ComplaintAssigned,
        complaints.ComplaintEscalated,
        complaints.ComplaintStatusChanged,
        complaints.ComplaintResolved,
        complaints.ComplaintReopened,
        complaints.ComplaintClosed,
        complaints.ComplaintSlaBreached,
    ):
        handlers[spec.event_type] = complaint
    handlers[CustomerMerged.event_type] = merged
    handlers[CustomerErased.event_type] = erased
    return handlers
