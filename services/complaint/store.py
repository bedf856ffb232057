"""The complaints collection: every read and every atomic, version-guarded write.

Writes go through `shared.outbox` so a complaint's change and its events are one single-document
update; after each write the relay is nudged so the events leave at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from services.complaint.commands import Change
from services.complaint.records import COMPLAINTS, CUSTOMER_ALIASES, SURVEY_LINKS
from shared.events import Event
from shared.mongo import Collection, Database, Document, bulk_update
from shared.outbox import new_document_with_events, update_with_events, write_lock

# What list and scan queries never need to carry back.
_WITHOUT_OUTBOX = {"outbox": 0}
# Merges of merges: an alias is followed this far.
MAX_ALIAS_DEPTH = 5


class ComplaintStore:
    """Reads and writes complaints in the service's own database."""

    def __init__(self, database: Database, *, notify: Callable[[], None]) -> None:
        self.collection: Collection = database[COMPLAINTS]
        self.survey_links: Collection = database[SURVEY_LINKS]
        self.aliases: Collection = database[CUSTOMER_ALIASES]
        self._notify = notify

    async def insert(
        self, doc: Document, events: list[Event[Any]], *, queued_at: datetime
    ) -> tuple[Document, bool]:
        """Insert a new complaint with its events; (stored document, whether it is new).

        A complaint with the same id (same external id) already there is returned instead,
        so a retried create is answered with the first one and emits nothing again.
        """
        try:
            await self.collection.insert_one(
                new_document_with_events(doc, events, queued_at=queued_at)
            )
        except DuplicateKeyError:
            existing = await self.get(doc["_id"])
            assert existing is not None  # complaints are never deleted
            return existing, False
        self._notify()
        stored = await self.get(doc["_id"])
        assert stored is not None
        return stored, True

    async def get(self, complaint_id: str) -> Document | None:
        return await self.collection.find_one({"_id": complaint_id}, _WITHOUT_OUTBOX)

    async def apply(
        self, doc: Document, change: Change, *, version: int, queued_at: datetime
    ) -> Document | None:
        """Apply `change` if the complaint is still at `version`; the new document or None."""
        update: dict[str, Any] = {"$set": dict(change.set), "$inc": {"version": 1}}
        if change.push:
            update["$push"] = dict(change.push)
        # update_with_events holds the collection's write lock (see shared.outbox.write_lock).
        updated = await update_with_events(
            self.collection,
            {"_id": doc["_id"], "version": version},
            update,
            change.events,
            queued_at=queued_at,
        )
        if updated is None:
            return None
        if change.events:
            self._notify()
        updated.pop("outbox", None)
        return updated

    async def page(
        self, filters: Mapping[str, Any], *, limit: int, after: str | None
    ) -> list[Document]:
        """Up to `limit` complaints matching `filters`, ordered by id, after id `after`."""
        query = dict(filters)
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self.collection.find(query, _WITHOUT_OUTBOX).sort("_id", 1).limit(limit)
        return [doc async for doc in cursor]

    async def not_closed(self) -> list[Document]:
        """Every complaint whose SLA can still be breached (all but closed ones)."""
        cursor = self.collection.find(
            {"state": {"$ne": "closed"}},
            {
                "customer_id": 1,
                "severity": 1,
                "state": 1,
                "version": 1,
                "sla": 1,
                "sla_breaches": 1,
                "escalation_level": 1,
            },
        )
        return [doc async for doc in cursor]

    async def matching(self, filters: Mapping[str, Any]) -> list[Document]:
        """Every complaint matching a simple filter (for statistics computed in Python)."""
        return [doc async for doc in self.collection.find(dict(filters), _WITHOUT_OUTBOX)]

    # -- survey links ----------------------------------------------------------------------------

    async def remember_survey_link(self, token_sha256: str, *, complaint_id: str) -> None:
        """Map a token's hash to its complaint. Written before the complaint's invite, so an
        invite always has its mapping; a mapping whose invite was never written (a lost race)
        or was replaced designates nothing and is answered like an unknown token."""
        await self.survey_links.insert_one({"_id": token_sha256, "complaint_id": complaint_id})

    async def by_survey_link(self, token_sha256: str) -> Document | None:
        """The complaint a token's hash was issued for (still to be checked against its invite)."""
        link = await self.survey_links.find_one({"_id": token_sha256})
        return None if link is None else await self.get(link["complaint_id"])

    # -- merged and erased customers ---------------------------------------------------------------

    async def survivor_of(self, customer_id: str) -> str:
        """The id a (possibly merged-away) customer id lives on as."""
        current = customer_id
        for _ in range(MAX_ALIAS_DEPTH):
            alias = await self.aliases.find_one({"_id": current})
            if alias is None:
                break
            current = alias["survivor_id"]
        return current

    async def remember_merge(self, merged_ids: list[str], *, survivor_id: str) -> None:
        for merged_id in merged_ids:
            if merged_id != survivor_id:
                await self.aliases.replace_one(
                    {"_id": merged_id}, {"_id": merged_id, "survivor_id": survivor_id}, upsert=True
                )

    async def rewrite_customer(
        self, customer_id: str, change: Callable[[Document], Document]
    ) -> int:
        """Apply `change` (a document → its `$set`, empty for none) to every complaint of the
        customer; how many changed.

        FerretDB serves a `customer_id` filter by scanning the collection, which is fine for
        merges and erasures, which are rare. The ids are found first; each complaint is then read
        again by `_id` and written in bulk under the write lock, so no API write of the same
        complaint in this process can be lost in between. Each change bumps the version (the
        ETag), so an agent holding the old one gets 412 instead of overwriting it.
        """
        found = [
            doc["_id"]
            async for doc in self.collection.find({"customer_id": customer_id}, {"_id": 1})
        ]
        if not found:
            return 0
        async with write_lock(self.collection):
            operations: list[UpdateOne] = []
            for complaint_id in found:
                doc = await self.get(complaint_id)
                if doc is None or doc["customer_id"] != customer_id:
                    continue
                fields = change(doc)
                if fields:
                    operations.append(
                        UpdateOne(
                            {"_id": complaint_id},  # _id alone: the only indexed filter
                            {"$set": fields, "$inc": {"version": 1}},
                        )
                    )
            return await bulk_update(self.collection, operations)
