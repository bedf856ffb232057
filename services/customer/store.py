"""The customer collections: every read and every atomic, version-guarded write.

- `customers`: one document per customer; carries its pending events (`outbox`, relayed by
  the shared relay) and its pending audit entries (`audit_pending`), both written in the same
  single-document update as the change itself, so a crash after the write loses neither.
- `customer_audit`: the audit history; `move_audit` moves pending entries there (insert by
  `_id`, idempotent, then remove them from the customer), like the outbox relay does for events.
- `customer_keys`: one document per external id, `_id = "erp:C001"`, inserted *before* the
  customer is written: the unique `_id` is what makes external ids unique (FerretDB serves
  `_id` lookups from its index; a unique secondary index would not be used for lookups).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.customer.commands import Change
from services.customer.domain.erasure import scrubbed_changes
from shared.events import Event, utc_now
from shared.mongo import Collection, Database, Document, bulk_update
from shared.outbox import new_document_with_events, update_with_events

log = logging.getLogger(__name__)

CUSTOMERS = "customers"
AUDIT = "customer_audit"
KEYS = "customer_keys"

AUDIT_PENDING = "audit_pending"
AUDIT_PENDING_COUNT = "audit_pending_count"

_HIDDEN = {"outbox": 0, "outbox_pending": 0, AUDIT_PENDING: 0, AUDIT_PENDING_COUNT: 0}

# A key whose customer never got written (the process died in between) is taken over by a
# new owner only after this long, so two concurrent creates never both get the same key.
ORPHAN_KEY_AGE = timedelta(minutes=1)


class DuplicateExternalId(Exception):
    """Another customer holds this external id."""

    def __init__(self, key: str, owner: str) -> None:
        system, _, value = key.partition(":")
        super().__init__(f"external_ids.{system} {value!r} already belongs to customer {owner}")
        self.key = key
        self.system = system
        self.owner = owner


class CustomerStore:
    """Reads and writes customers in the service's own database."""

    def __init__(self, database: Database, *, notify: Callable[[], None]) -> None:
        self.customers: Collection = database[CUSTOMERS]
        self.audit: Collection = database[AUDIT]
        self.keys: Collection = database[KEYS]
        self._notify = notify

    async def ensure_indexes(self) -> None:
        await self.customers.create_index(AUDIT_PENDING_COUNT)
        await self.audit.create_index("customer_id")

    # -- external ids -------------------------------------------------------------------------

    async def reserve_keys(self, keys: Iterable[str], customer_id: str, *, now: datetime) -> None:
        """Make `customer_id` the holder of every key, or hold none and raise the first clash."""
        taken: list[str] = []
        try:
            for key in sorted(keys):
                await self._reserve(key, customer_id, now=now)
                taken.append(key)
        except DuplicateExternalId:
            await self.release_keys(taken, customer_id)
            raise

    async def _reserve(self, key: str, customer_id: str, *, now: datetime) -> None:
        try:
            await self.keys.insert_one({"_id": key, "customer_id": customer_id, "at": now})
            return
        except DuplicateKeyError:
            pass
        holder = await self.keys.find_one({"_id": key})
        if holder is None:  # released meanwhile: try once more
            await self.keys.insert_one({"_id": key, "customer_id": customer_id, "at": now})
            return
        owner = holder["customer_id"]
        if owner == customer_id:
            return
        if holder["at"] < now - ORPHAN_KEY_AGE and await self.get(owner) is None:
            taken = await self.keys.find_one_and_update(
                {"_id": key, "customer_id": owner},
                {"$set": {"customer_id": customer_id, "at": now}},
            )
            if taken is not None:
                return
        raise DuplicateExternalId(key, owner)

    async def reserve_new_keys(self, keys: list[tuple[str, str]], *, now: datetime) -> set[int]:
        """Insert many (key, customer id) reservations in one command; the positions of those
        whose key was taken already (their customers must go through `reserve_keys`)."""
        if not keys:
            return set()
        docs = [{"_id": key, "customer_id": owner, "at": now} for key, owner in keys]
        try:
            await self.keys.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()

    async def key_holder(self, key: str) -> str | None:
        """The id of the customer holding an external-id key (e.g. ``erp:C001``), if any."""
        holder = await self.keys.find_one({"_id": key})
        return None if holder is None else str(holder["customer_id"])

    async def release_keys(self, keys: Iterable[str], customer_id: str) -> None:
        for key in keys:
            await self.keys.delete_one({"_id": key, "customer_id": customer_id})

    # -- customers ----------------------------------------------------------------------------

    async def insert(self, doc: Document, events: list[Event[Any]], audit: Document) -> Document:
        """Insert a new customer with its first events and audit entry."""
        stored = new_document_with_events(
            {**doc, AUDIT_PENDING: [audit], AUDIT_PENDING_COUNT: 1},
            events,
            queued_at=doc["created_at"],
        )
        await self.customers.insert_one(stored)
        self._notify()
        return {key: value for key, value in stored.items() if key not in _HIDDEN}

    async def insert_many(self, new: list[tuple[Document, list[Event[Any]], Document]]) -> None:
        """Insert new customers (document, first events, audit entry) in one command."""
        if not new:
            return
        await self.customers.insert_many(
            [
                new_document_with_events(
                    {**doc, AUDIT_PENDING: [audit], AUDIT_PENDING_COUNT: 1},
                    events,
                    queued_at=doc["created_at"],
                )
                for doc, events, audit in new
            ]
        )
        self._notify()

    async def get(self, customer_id: str) -> Document | None:
        return await self.customers.find_one({"_id": customer_id}, _HIDDEN)

    async def apply(
        self, customer_id: str, change: Change, *, version: int, queued_at: datetime
    ) -> Document | None:
        """Apply `change` if the customer is still at `version`; the new document or None."""
        update: dict[str, Any]
        if change.pending_audit is None:
            update = {
                "$set": dict(change.set),
                "$inc": {"version": 1, AUDIT_PENDING_COUNT: 1},
                "$push": {AUDIT_PENDING: change.audit},
            }
        else:
            pending = [*change.pending_audit, change.audit]
            update = {
                "$set": {**change.set, AUDIT_PENDING: pending, AUDIT_PENDING_COUNT: len(pending)},
                "$inc": {"version": 1},
            }
        # update_with_events holds the collection's write lock (see shared.outbox.write_lock).
        updated = await update_with_events(
            self.customers,
            {"_id": customer_id, "version": version},
            update,
            change.events,
            queued_at=queued_at,
        )
        if updated is None:
            return None
        if change.events:
            self._notify()
        return {key: value for key, value in updated.items() if key not in _HIDDEN}

    async def pending_audit(self, customer_id: str) -> list[Document]:
        doc = await self.customers.find_one({"_id": customer_id}, {AUDIT_PENDING: 1})
        entries: list[Document] = (doc or {}).get(AUDIT_PENDING, [])
        return entries

    async def transfer_keys(self, keys: Iterable[str], customer_id: str) -> None:
        """Make `customer_id` the holder of keys another (merged) customer held."""
        for key in keys:
            await self.keys.update_one({"_id": key}, {"$set": {"customer_id": customer_id}})

    async def page(
        self, query: Mapping[str, Any], sort: list[tuple[str, int]], *, limit: int
    ) -> list[Document]:
        cursor = self.customers.find(dict(query), _HIDDEN).sort(sort).limit(limit)
        return [doc async for doc in cursor]

    async def scan(
        self, query: Mapping[str, Any], sort: list[tuple[str, int]], *, batch_size: int = 500
    ) -> AsyncIterator[Document]:
        """Every customer matching `query` in `sort` order, fetched `batch_size` at a time
        (one query: paging by cursor would rescan the collection per page on FerretDB)."""
        cursor = self.customers.find(dict(query), _HIDDEN).sort(sort).batch_size(batch_size)
        async for doc in cursor:
            yield doc

    async def external_systems(self, query: Mapping[str, Any]) -> set[str]:
        """The external-id systems (erp, …) used by the customers matching `query`."""
        systems: set[str] = set()
        async for doc in self.customers.find(dict(query), {"external_ids": 1}):
            systems.update(doc.get("external_ids") or {})
        return systems

    # -- audit --------------------------------------------------------------------------------

    async def history(self, customer_id: str) -> list[Document]:
        """Every audit entry of a customer, oldest first, moved or still pending."""
        entries = {
            entry["_id"]: entry async for entry in self.audit.find({"customer_id": customer_id})
        }
        doc = await self.customers.find_one({"_id": customer_id}, {AUDIT_PENDING: 1})
        for entry in (doc or {}).get(AUDIT_PENDING, []):
            entries.setdefault(entry["_id"], entry)
        return sorted(entries.values(), key=lambda entry: entry["version"])

    async def scrub_audit(self, customer_id: str, kind: str) -> None:
        """Replace personal values in a customer's moved audit entries by `ERASED`."""
        updates = [
            UpdateOne(
                {"_id": entry["_id"]},
                {"$set": {"changes": scrubbed_changes(entry["changes"], kind)}},
            )
            async for entry in self.audit.find({"customer_id": customer_id})
        ]
        await bulk_update(self.audit, updates)

    async def move_audit(self, *, batch_size: int = 200) -> int:
        """Move pending audit entries into `customer_audit`; how many were moved."""
        pending = [
            doc
            async for doc in self.customers.find(
                {AUDIT_PENDING_COUNT: {"$gt": 0}}, {AUDIT_PENDING: 1, "erased_at": 1, "kind": 1}
            ).limit(batch_size)
        ]
        moved = 0
        for doc in pending:
            entries = doc.get(AUDIT_PENDING, [])
            if not entries:
                continue
            try:
                await self.audit.insert_many(entries, ordered=False)
            except BulkWriteError as error:
                # Already moved by an earlier pass that died before the removal: fine.
                if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                    raise
            if doc.get("erased_at") is not None:
                # Entries read before an erasure may have been copied unscrubbed: scrub again.
                await self.scrub_audit(doc["_id"], doc["kind"])
            # FerretDB's $pull matches whole values only: remove the exact entries read.
            await update_with_events(
                self.customers,
                {"_id": doc["_id"]},
                {
                    "$pullAll": {AUDIT_PENDING: entries},
                    "$inc": {AUDIT_PENDING_COUNT: -len(entries)},
                },
                [],
                queued_at=utc_now(),
            )
            moved += len(entries)
        return moved
