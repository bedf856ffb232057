"""The `activities` collection: every contact and order fact of every customer, one per document.

A fact recorded alone carries its event in its embedded outbox (`shared.outbox`), so the fact
and its event are one insert; facts recorded in a batch carry theirs in one event batch
document of `activity_event_batches` (`shared.outbox.EventBatches`: about a millisecond per
document on FerretDB, so one outbox document per batch, not per fact). A repeated fact is
refused by the unique `_id` and reported as a duplicate. Facts are updated only when their
customer is merged (re-keyed to the survivor) or erased (personal fields emptied); those rare
updates hold the outbox write lock, since the relay removes published events from the same
documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.interaction.domain import erasure, merge
from services.interaction.domain.activities import Recorded, readdressed
from services.interaction.domain.merge import CustomerState, ErasedCustomer, Resolution
from shared.events import Event, spec_for, utc_now
from shared.mongo import Collection, Database, Document, bulk_update
from shared.outbox import (
    BATCH_ID,
    OUTBOX,
    EventBatches,
    new_document_with_events,
    write_lock,
)

log = logging.getLogger(__name__)

ACTIVITIES = "activities"
EVENT_BATCHES = "activity_event_batches"
INGEST_PROCESSED = "ingest_processed"
CUSTOMER_REFS = "customer_refs"
CUSTOMERS_PROCESSED = "customers_processed"
PARKED = "parked"
CUSTOMER_STATUS = "customer_status"
CUSTOMER_STATUS_TOKEN = "customer_status_token"

DUPLICATE_KEY = 11000
_WITHOUT_OUTBOX = {"outbox": 0, "outbox_pending": 0, BATCH_ID: 0}
READ_CONCURRENCY = 8  # FerretDB serves a database from a bounded pool of SQLite connections
_TOKEN_ID = "customer_status"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    PARKED = "parked"  # addressed by a reference no customer has yet (see GET /v1/parked)


class ActivityStore:
    """Reads and writes the service's facts."""

    def __init__(
        self,
        database: Database,
        *,
        notify: Callable[[], None],
        hint: Callable[[Collection, list[Any]], None] | None = None,
    ) -> None:
        self.collection: Collection = database[ACTIVITIES]
        self._notify = notify
        self._hint = hint
        self.batches = EventBatches(
            database[EVENT_BATCHES], hint=hint or (lambda _collection, _ids: notify())
        )

    def _written(self, doc_ids: list[Any]) -> None:
        # With a hint the relay reads these by `_id` instead of searching the collection,
        # which FerretDB does by reading all of it (shared.outbox.OutboxRelay).
        if self._hint is not None:
            self._hint(self.collection, doc_ids)
        else:
            self._notify()

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
        self._written([doc["_id"]])
        return True

    async def insert_many(
        self, recorded: Sequence[Recorded], *, queued_at: datetime
    ) -> list[tuple[Outcome, str | None]]:
        """Store many facts in one unordered insert, their events in one event batch;
        (outcome, reason) per fact, in order."""
        if not recorded:
            return []
        batch = await self.batches.stage(
            [(r.document["_id"], r.event) for r in recorded], queued_at=queued_at
        )
        docs = [{**r.document, BATCH_ID: batch["_id"]} for r in recorded]
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
        accepted = [
            doc["_id"]
            for doc, (outcome, _) in zip(docs, outcomes, strict=True)
            if outcome is Outcome.ACCEPTED
        ]
        await self.batches.release(batch, accepted)
        return outcomes

    async def recover_event_batches(self, *, staged_before: datetime) -> int:
        """Publish the events of facts whose batch write was cut off between storing the facts
        and releasing their events (a crash); how many events."""

        async def written_by(batch_id: str, fact_ids: Sequence[Any]) -> list[Any]:
            gate = asyncio.Semaphore(READ_CONCURRENCY)

            async def marked(fact_id: Any) -> bool:
                async with gate:
                    doc = await self.collection.find_one({"_id": fact_id}, {BATCH_ID: 1})
                return doc is not None and doc.get(BATCH_ID) == batch_id

            found = await asyncio.gather(*(marked(fact_id) for fact_id in fact_ids))
            return [fact_id for fact_id, mine in zip(fact_ids, found, strict=True) if mine]

        return await self.batches.recover(written_by, staged_before=staged_before)

    async def get(self, doc_id: str) -> Document | None:
        return await self.collection.find_one({"_id": doc_id}, _WITHOUT_OUTBOX)

    async def of_customer(self, customer_id: str) -> list[Document]:
        """Every fact of one customer (an O(n) scan of the collection on FerretDB)."""
        cursor = self.collection.find({"customer_id": customer_id}, _WITHOUT_OUTBOX)
        return [doc async for doc in cursor]

    async def rekey(self, merged_ids: Sequence[str], survivor: str) -> int:
        """Move every fact of the merged-away ids to the survivor; how many moved.

        A scan on FerretDB (merges are rare), then one single-document update per fact under
        the write lock. Replayed, it finds nothing left to move.
        """
        if not merged_ids:
            return 0
        cursor = self.collection.find({"customer_id": {"$in": list(merged_ids)}}, _WITHOUT_OUTBOX)
        updates = [
            UpdateOne({"_id": doc["_id"]}, {"$set": merge.rekeyed(doc, survivor)})
            async for doc in cursor
        ]
        async with write_lock(self.collection):
            await bulk_update(self.collection, updates)
        return len(updates)

    async def erase(self, customer_id: str, *, at: datetime) -> int:
        """Empty the personal fields of the customer's facts (also those first recorded under
        it and since merged into another), in their pending events too; how many changed.

        The facts are found by a scan, then each is read again by `_id` and written under the
        write lock, so the relay removes no event between that read and our write. An event
        the relay is publishing meanwhile goes out as it read it, and our scrubbed copy stays
        behind counted as published: a leftover without personal data.
        """
        query = {"$or": [{"customer_id": customer_id}, {"merged_from": customer_id}]}
        found = [doc["_id"] async for doc in self.collection.find(query, {"_id": 1})]
        async with write_lock(self.collection):
            updates = []
            for doc_id in found:
                doc = await self.collection.find_one({"_id": doc_id})
                if doc is not None and (fields := _erased(doc, at=at)):
                    updates.append(UpdateOne({"_id": doc_id}, {"$set": fields}))
            await bulk_update(self.collection, updates)
        await self.batches.scrub(found, _scrubbed)
        return len(updates)


def _scrubbed(entry: Document) -> Document:
    """An outbox entry with its event's personal data erased."""
    return {**entry, "value": json.dumps(erasure.erased_event_data(json.loads(entry["value"])))}


def _erased(doc: Document, *, at: datetime) -> Document:
    """The fields to set to erase a stored fact, its pending outbox events included."""
    fields = erasure.erased_fields(doc, at=at)
    entries: list[Document] = doc.get(OUTBOX) or []
    scrubbed = [_scrubbed(entry) for entry in entries]
    if any(
        json.loads(new["value"]) != json.loads(old["value"])
        for new, old in zip(scrubbed, entries, strict=True)
    ):
        fields[OUTBOX] = scrubbed
    return fields


class FactWriter(Protocol):
    """Where a handler stores a fact: the store itself, or a batch's `FactBuffer`."""

    async def insert(self, recorded: Recorded, *, queued_at: datetime) -> bool: ...


class FactBuffer:
    """The facts of one consumer batch, stored together when the batch ends.

    The ingest consumer's handlers put their facts here and the consumer calls `flush` before
    it commits the batch (`EventConsumer(after_batch=...)`), so a backfill over Kafka costs one
    bulk insert and one event batch per fetched batch instead of a write and a relay pass per
    event. The customers are resolved again at the flush: a merge or erasure that arrived
    while the batch was being handled still applies (an erased customer's facts are dropped,
    which is what the erasure asks; they were accepted for a customer that no longer is).
    """

    def __init__(self, store: ActivityStore, status: CustomerStatusStore) -> None:
        self.store = store
        self.status = status
        self._facts: list[Recorded] = []

    async def insert(self, recorded: Recorded, *, queued_at: datetime) -> bool:
        self._facts.append(recorded)
        return True

    async def flush(self) -> None:
        facts = list(self._facts)
        if not facts:
            return
        addressed = await self.status.addressed_many(facts)
        kept = [fact for fact in addressed if not isinstance(fact, str)]
        for refused in (fact for fact in addressed if isinstance(fact, str)):
            log.warning("ingested fact dropped at flush: %s", refused)
        outcomes = await self.store.insert_many(kept, queued_at=utc_now())
        for fact, (outcome, reason) in zip(kept, outcomes, strict=True):
            if outcome is Outcome.REJECTED:
                # The database refused a fact the models accepted (none is known to): its
                # event is past the consumer's dead-letter step, so it is logged loudly.
                log.error("ingested fact %s refused by the database: %s", fact.id, reason)
        # Only now: a flush cut off by an unavailable database is retried with every fact
        # (those it did store come back as duplicates; their events are in its staged batch).
        del self._facts[: len(facts)]


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

    async def park(
        self, ref: str, event: Event[Any], *, at: datetime, fact: Document | None = None
    ) -> str:
        """Keep an event until its customer appears; the parked entry's id. A fact received
        over HTTP is parked whole (`fact`: the document to store), since its event leaves out
        what only the service keeps (the summary)."""
        parked_id = f"{ref}|{event.id}"
        doc = {"_id": parked_id, "ref": ref, "event": event.model_dump(mode="json"), "at": at}
        if fact is not None:
            doc["fact"] = fact
        with contextlib.suppress(DuplicateKeyError):  # parked already (a redelivery)
            await self.parked.insert_one(doc)
        return parked_id

    async def resolve_or_park(
        self, ref: str, event: Event[Any], *, at: datetime, fact: Document | None = None
    ) -> str | None:
        """The customer id `ref` belongs to; None when none has it yet, and then the event
        (or the whole fact) is parked until that customer appears (`park`)."""
        customer_id = await self.lookup(ref)
        if customer_id is not None:
            return customer_id
        parked_id = await self.park(ref, event, at=at, fact=fact)
        # Looked up again after parking: a customer that appeared in between has had its
        # parked events scanned already, possibly before this one was parked.
        customer_id = await self.lookup(ref)
        if customer_id is not None:
            await self.unpark(parked_id)
        return customer_id

    async def parked_for(self, ref: str) -> list[tuple[str, Event[Any], Document | None]]:
        """The events (and facts, if parked whole) parked under a reference, oldest first."""
        cursor = self.parked.find({"ref": ref}).sort("at", 1)
        return [
            (
                doc["_id"],
                spec_for(doc["event"]["type"]).event_model.model_validate(doc["event"]),
                doc.get("fact"),
            )
            async for doc in cursor
        ]

    async def unpark(self, parked_id: str) -> None:
        await self.parked.delete_one({"_id": parked_id})

    async def repoint(self, merged_ids: Sequence[str], survivor: str) -> int:
        """Make the references of merged-away ids resolve to the survivor; how many."""
        if not merged_ids:
            return 0
        cursor = self.refs.find({"customer_id": {"$in": list(merged_ids)}}, {"_id": 1})
        updates = [
            UpdateOne({"_id": doc["_id"]}, {"$set": {"customer_id": survivor}})
            async for doc in cursor
        ]
        await bulk_update(self.refs, updates)
        return len(updates)

    async def forget_customer(self, customer_id: str) -> list[str]:
        """Drop every reference resolving to the customer and the events parked under them;
        the references dropped (a scan of the read model: erasures are rare)."""
        known = [doc["_id"] async for doc in self.refs.find({"customer_id": customer_id})]
        if known:
            await self.parked.delete_many({"ref": {"$in": known}})
            await self.refs.delete_many({"_id": {"$in": known}})
        return known

    async def all_parked(self) -> list[Document]:
        """Every parked entry (reference, event, since when) for reporting."""
        return [doc async for doc in self.parked.find({}, {"event": 0}).sort("at", 1)]


class CustomerStatusStore:
    """Merged and erased customer ids (`_id` = customer id), resolved from an in-memory copy.

    Only ids the archive merged away or erased have a document, and they change rarely, while
    every recorded fact needs a resolution. So each writer also stamps a fresh token into
    `customer_status_token`; a resolution reads that one document by `_id` (indexed) and
    re-reads the whole (small) collection only when the token differs from the one its copy was
    read under. A fresh random token per change, not a counter, so that FerretDB's lost
    concurrent updates cannot leave a reader on a stale copy: whichever write lands last, its
    token is new to every reader that copied before it.
    """

    def __init__(self, database: Database) -> None:
        self.collection: Collection = database[CUSTOMER_STATUS]
        self.tokens: Collection = database[CUSTOMER_STATUS_TOKEN]
        self._states: dict[str, CustomerState] = {}
        self._token: str | None = None
        self._loaded = False
        self._loading = asyncio.Lock()

    async def _changed(self) -> None:
        await self.tokens.update_one(
            {"_id": _TOKEN_ID}, {"$set": {"token": uuid.uuid4().hex}}, upsert=True
        )

    async def mark_merged(self, merged_ids: Iterable[str], survivor: str, *, at: datetime) -> None:
        for customer_id in merged_ids:
            await self.collection.update_one(
                {"_id": customer_id},
                {"$set": {"merged_into": survivor, "merged_at": at}},
                upsert=True,
            )
        await self._changed()

    async def mark_erased(self, customer_id: str, *, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": customer_id}, {"$set": {"erased_at": at}}, upsert=True
        )
        await self._changed()

    async def _current(self) -> dict[str, CustomerState]:
        doc = await self.tokens.find_one({"_id": _TOKEN_ID})
        token = None if doc is None else str(doc["token"])
        if self._loaded and token == self._token:
            return self._states
        async with self._loading:
            if not self._loaded or token != self._token:
                self._states = {
                    doc["_id"]: CustomerState(
                        merged_into=doc.get("merged_into"),
                        erased=doc.get("erased_at") is not None,
                    )
                    async for doc in self.collection.find({})
                }
                self._token, self._loaded = token, True
        return self._states

    async def resolve_all(self, customer_ids: Iterable[str]) -> dict[str, Resolution]:
        """Where each id points now (following merge chains), by id."""
        states = await self._current()
        return {customer_id: merge.resolve(customer_id, states) for customer_id in customer_ids}

    async def resolve(self, customer_id: str) -> Resolution:
        return (await self.resolve_all([customer_id]))[customer_id]

    async def addressed(self, recorded: Recorded) -> Recorded:
        """`recorded` under the customer its id resolves to (a merged id's survivor).

        Raises ErasedCustomer when that customer was erased.
        """
        customer_id = recorded.document["customer_id"]
        resolution = await self.resolve(customer_id)
        if resolution.erased:
            raise ErasedCustomer(customer_id)
        return readdressed(recorded, resolution.customer_id)

    async def addressed_many(self, recorded: Sequence[Recorded]) -> list[Recorded | str]:
        """Each fact under its resolved customer, or the reason it is refused (erased)."""
        resolutions = await self.resolve_all(r.document["customer_id"] for r in recorded)
        out: list[Recorded | str] = []
        for fact in recorded:
            customer_id = fact.document["customer_id"]
            resolution = resolutions[customer_id]
            if resolution.erased:
                out.append(str(ErasedCustomer(customer_id)))
            else:
                out.append(readdressed(fact, resolution.customer_id))
        return out
