"""The `activities` collection: every contact and order fact of every customer, one per document.

Each document carries its event in its embedded outbox (`shared.outbox`), so the fact and its
event are one insert. Facts are never updated, so no write needs the outbox write lock; a
repeated fact is refused by the unique `_id` and reported as a duplicate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.interaction.domain.activities import Recorded
from shared.events import Event, spec_for
from shared.mongo import Collection, Database, Document
from shared.outbox import new_document_with_events

ACTIVITIES = "activities"
INGEST_PROCESSED = "ingest_processed"
CUSTOMER_REFS = "customer_refs"
CUSTOMERS_PROCESSED = "customers_processed"
PARKED = "parked"

DUPLICATE_KEY = 11000
_WITHOUT_OUTBOX = {"outbox": 0, "outbox_pending": 0}


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ActivityStore:
    """Reads and writes the service's facts."""

    def __init__(self, database: Database, *, notify: Callable[[], None]) -> None:
        self.collection: Collection = database[ACTIVITIES]
        self._notify = notify

    async def ensure_indexes(self) -> None:
        # Serves the timeline on MongoDB; FerretDB 1.24 scans regardless (see docs).
        await self.collection.create_index("customer_id")

    async def insert(self, recorded: Recorded, *, queued_at: datetime) -> bool:
        """Store one fact with its event; False when it was already there (nothing written)."""
        doc = new_document_with_events(recorded.document, [recorded.event], queued_at=queued_at)
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        self._notify()
        return True

    async def insert_many(
        self, recorded: Sequence[Recorded], *, queued_at: datetime
    ) -> list[tuple[Outcome, str | None]]:
        """Store many facts in one unordered insert; (outcome, reason) per fact, in order."""
        if not recorded:
            return []
        docs = [
            new_document_with_events(r.document, [r.event], queued_at=queued_at) for r in recorded
        ]
        outcomes: list[tuple[Outcome, str | None]] = [(Outcome.ACCEPTED, None)] * len(docs)
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            errors: list[dict[str, Any]] = error.details.get("writeErrors", [])
            for write_error in errors:
                index = int(write_error["index"])
                if write_error.get("code") == DUPLICATE_KEY:
                    outcomes[index] = (Outcome.DUPLICATE, None)
                else:
                    outcomes[index] = (Outcome.REJECTED, str(write_error.get("errmsg", "")))
        if any(outcome is Outcome.ACCEPTED for outcome, _ in outcomes):
            self._notify()
        return outcomes

    async def get(self, doc_id: str) -> Document | None:
        return await self.collection.find_one({"_id": doc_id}, _WITHOUT_OUTBOX)

    async def of_customer(self, customer_id: str) -> list[Document]:
        """Every fact of one customer (an O(n) scan of the collection on FerretDB)."""
        cursor = self.collection.find({"customer_id": customer_id}, _WITHOUT_OUTBOX)
        return [doc async for doc in cursor]


class ReferenceStore:
    """The read model of customer references (`_id` = reference) and the parked events.

    References are looked up by `_id` alone, the one filter FerretDB serves from an index.
    Parked events are found by their reference with a scan: the collection only holds events
    waiting for a customer that does not exist yet, so it stays small.
    """

    def __init__(self, database: Database) -> None:
        self.refs: Collection = database[CUSTOMER_REFS]
        self.parked: Collection = database[PARKED]

    async def ensure_indexes(self) -> None:
        await self.parked.create_index("ref")

    async def lookup(self, ref: str) -> str | None:
        """The customer id a reference belongs to, if known."""
        doc = await self.refs.find_one({"_id": ref})
        return None if doc is None else str(doc["customer_id"])

    async def remember(self, refs: Sequence[str], customer_id: str, *, at: datetime) -> None:
        for ref in refs:
            await self.refs.update_one(
                {"_id": ref}, {"$set": {"customer_id": customer_id, "at": at}}, upsert=True
            )

    async def park(self, ref: str, event: Event[Any], *, at: datetime) -> str:
        """Keep an event until its customer appears; the parked entry's id."""
        parked_id = f"{ref}|{event.id}"
        doc = {"_id": parked_id, "ref": ref, "event": event.model_dump(mode="json"), "at": at}
        with contextlib.suppress(DuplicateKeyError):  # parked already (a redelivery)
            await self.parked.insert_one(doc)
        return parked_id

    async def parked_for(self, ref: str) -> list[tuple[str, Event[Any]]]:
        """The events parked under a reference, oldest first."""
        cursor = self.parked.find({"ref": ref}).sort("at", 1)
        return [
            (doc["_id"], spec_for(doc["event"]["type"]).event_model.model_validate(doc["event"]))
            async for doc in cursor
        ]

    async def unpark(self, parked_id: str) -> None:
        await self.parked.delete_one({"_id": parked_id})

    async def all_parked(self) -> list[Document]:
        """Every parked entry (reference, event, since when) for reporting."""
        return [doc async for doc in self.parked.find({}, {"event": 0}).sort("at", 1)]
