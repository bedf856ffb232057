"""The embedded outbox: a state change and its events are written in one atomic update.

Pending events live inside the entity's own document (field ``outbox``), so single-document
atomicity is enough: no multi-document transaction (which FerretDB lacks). A relay per service
publishes them in order per document and removes each only after the broker acknowledged it.
A relay that dies between publishing and removing re-publishes on restart: a duplicate with
the same event ``id``, which every consumer drops.

Facts written many at a time (a batch of a thousand contacts) can instead carry their events
in one *event batch* document (`EventBatches`): on FerretDB every document written, read and
updated costs about a millisecond, so one outbox document per thousand events rather than one
per event is what lets batch ingestion go faster than the relay's per-document rate. Without
multi-document transactions the batch is staged before the facts are inserted and released
after; a crash in between leaves a staged batch that `EventBatches.recover` releases for the
facts that batch did write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from shared.events import Event, KafkaRecord, encode, utc_now
from shared.mongo import Collection, Document, bulk_update
from shared.observability import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from shared.producer import EventProducer

log = logging.getLogger(__name__)

OUTBOX = "outbox"
PENDING = "outbox_pending"
BATCH = "event_batch"  # `True` on an event batch document
BATCH_ID = "event_batch_id"  # on a fact written with an event batch: that batch's id
STAGED = "staged"
RELAY_LEASES = "outbox_relays"
READ_CONCURRENCY = 8
_RELAYED_FIELDS = {OUTBOX: 1, BATCH: 1}


_write_locks: dict[tuple[str, str], asyncio.Lock] = {}


def write_lock(collection: Collection) -> asyncio.Lock:
    """The lock every write to an outbox-carrying document in this process holds.

    FerretDB 1.24 applies an update as read-modify-write without isolation: two concurrent
    updates of one document can lose one of them, even a `find_one_and_update` guarded by a
    version (measured: 5 of 50 guarded `$inc`s lost against 50 concurrent ones). The relay's
    removals race the service's state changes exactly like that, so both take this lock.
    It protects one process; on MongoDB, document-level atomicity makes it unnecessary, and
    on FerretDB a service must therefore run as a single writer per database.
    """
    key = (collection.database.name, collection.name)
    lock = _write_locks.get(key)
    if lock is None:
        lock = _write_locks[key] = asyncio.Lock()
    return lock


def outbox_entry(event: Event[Any], *, queued_at: datetime) -> Document:
    """An event as stored in a document's outbox: the encoded record, ready to send."""
    record = encode(event)
    return {
        "id": event.id,
        "topic": record.topic,
        "key": record.key.decode(),
        "value": record.value.decode(),
        # A sub-document, not a list of pairs: FerretDB refuses nested arrays.
        "headers": {name: value.decode() for name, value in record.headers},
        "queued_at": queued_at,
    }


def _record(stored: Mapping[str, Any] | str) -> KafkaRecord:
    entry = _entry(stored)
    return KafkaRecord(
        topic=entry["topic"],
        key=entry["key"].encode(),
        value=entry["value"].encode(),
        headers=tuple((name, value.encode()) for name, value in entry["headers"].items()),
    )


def _entry(stored: Mapping[str, Any] | str) -> Mapping[str, Any]:
    """An outbox entry as stored: a sub-document, or (in an event batch) its JSON text."""
    return json.loads(stored) if isinstance(stored, str) else stored


def _batch_entry(fact_id: Any, event: Event[Any], *, queued_at: datetime) -> str:
    """An event batch's entry: the outbox entry as JSON text, naming the fact it belongs to."""
    entry = outbox_entry(event, queued_at=queued_at)
    return json.dumps({**entry, "fact": fact_id, "queued_at": queued_at.isoformat()})


def with_events(
    update: Mapping[str, Any], events: Sequence[Event[Any]], *, queued_at: datetime
) -> dict[str, Any]:
    """`update` extended so that the same atomic update appends `events` to the outbox."""
    merged = {operator: dict(fields) for operator, fields in update.items()}
    if events:
        entries = [outbox_entry(event, queued_at=queued_at) for event in events]
        merged.setdefault("$push", {})[OUTBOX] = {"$each": entries}
        merged.setdefault("$inc", {})[PENDING] = len(entries)
    return merged


def new_document_with_events(
    document: Mapping[str, Any], events: Sequence[Event[Any]], *, queued_at: datetime
) -> Document:
    """A document to insert, carrying its first events in its outbox."""
    return {
        **document,
        OUTBOX: [outbox_entry(event, queued_at=queued_at) for event in events],
        PENDING: len(events),
    }


async def update_with_events(
    collection: Collection,
    query: Mapping[str, Any],
    update: Mapping[str, Any],
    events: Sequence[Event[Any]],
    *,
    queued_at: datetime,
    upsert: bool = False,
) -> Document | None:
    """Apply `update` and enqueue `events` atomically; the updated document, or None."""
    async with write_lock(collection):
        return await collection.find_one_and_update(
            dict(query),
            with_events(update, events, queued_at=queued_at),
            return_document=ReturnDocument.AFTER,
            upsert=upsert,
        )


async def ensure_outbox_index(collection: Collection) -> None:
    await collection.create_index(PENDING)


class EventBatches:
    """Event batch documents: the events of many facts in one outbox document.

    `stage` inserts the batch with its events set aside (nothing to relay yet); the writer then
    inserts its facts, each marked with the batch id in field `event_batch_id`, and `release`s the
    events of the facts it did insert (not of duplicates refused by their `_id`), which makes
    them pending for the relay. A fully published batch document is deleted by the relay.
    Entries are stored as JSON text, not sub-documents: FerretDB converts every field of
    a document on each write and read, and a thousand entries as text cost it a quarter of what
    they cost as sub-documents (measured on insert, update, read and delete alike).
    A writer that dies before releasing leaves the batch staged; `recover` releases such a
    batch, once it is older than any write can take, for the facts found marked with its id,
    and drops it when there are none. Staged and pending batches are few (they are deleted once
    published), so finding them is a cheap scan even where FerretDB scans.
    """

    def __init__(self, collection: Collection, *, hint: Callable[[Collection, list[Any]], None]):
        self.collection = collection
        self._hint = hint

    async def stage(
        self, events: Sequence[tuple[Any, Event[Any]]], *, queued_at: datetime
    ) -> Document:
        """Store `(fact id, event)` pairs as a staged batch; the batch document."""
        batch: Document = {
            "_id": uuid.uuid4().hex,
            BATCH: True,
            STAGED: [
                _batch_entry(fact_id, event, queued_at=queued_at) for fact_id, event in events
            ],
            OUTBOX: [],
            PENDING: 0,
            "staged_at": queued_at,
        }
        await self.collection.insert_one(batch)
        return batch

    async def release(self, batch: Mapping[str, Any], fact_ids: Iterable[Any]) -> int:
        """Make the events of `fact_ids` in a staged batch pending; how many. A batch that
        releases none is deleted."""
        written = set(fact_ids)
        entries = [entry for entry in batch[STAGED] if json.loads(entry)["fact"] in written]
        async with write_lock(self.collection):
            if not entries:
                await self.collection.delete_one({"_id": batch["_id"]})
                return 0
            await self.collection.update_one(
                {"_id": batch["_id"]},
                {"$set": {OUTBOX: entries, PENDING: len(entries)}, "$unset": {STAGED: ""}},
            )
        self._hint(self.collection, [batch["_id"]])
        return len(entries)

    async def recover(
        self,
        written_by: Callable[[str, Sequence[Any]], Awaitable[Iterable[Any]]],
        *,
        staged_before: datetime,
    ) -> int:
        """Release the batches staged before `staged_before` (their writer died) for the facts
        `written_by(batch id, fact ids)` says that batch wrote; how many events."""
        released = 0
        stale = self.collection.find(
            {STAGED: {"$exists": True}, "staged_at": {"$lt": staged_before}}
        )
        async for batch in stale:
            facts = [json.loads(entry)["fact"] for entry in batch[STAGED]]
            released += await self.release(batch, await written_by(batch["_id"], facts))
        return released

    async def scrub(self, fact_ids: Iterable[Any], scrubbed: Callable[[Document], Document]) -> int:
        """Replace the not yet published entries of `fact_ids` by `scrubbed(entry)` (an
        erasure); how many batches changed."""
        wanted = set(fact_ids)

        def rewritten(stored: str) -> str:
            entry = json.loads(stored)
            return json.dumps(scrubbed(entry)) if entry["fact"] in wanted else stored

        changed = 0
        async with write_lock(self.collection):
            async for batch in self.collection.find({BATCH: True}):
                fields: Document = {}
                for name in (OUTBOX, STAGED):
                    entries: list[str] = batch.get(name) or []
                    new = [rewritten(entry) for entry in entries]
                    if new != entries:
                        fields[name] = new
                if fields:
                    await self.collection.update_one({"_id": batch["_id"]}, {"$set": fields})
                    changed += 1
        return changed


@dataclass(frozen=True)
class RelayPass:
    """What one relay pass did."""

    published: int
    documents: int
    failed: int


def _queued_at(entry: Mapping[str, Any]) -> datetime:
    queued_at = entry["queued_at"]
    return datetime.fromisoformat(queued_at) if isinstance(queued_at, str) else queued_at


class OutboxRelay:
    """Publishes the pending events of one or more collections, then removes them.

    One relay at a time works on a collection: it holds a lease in the `outbox_relays`
    collection, renewed every pass. Another replica takes over when the lease expires; a relay
    restarted under the same `relay_id` takes its lease back at once. (Per-document claims
    would need a multi-document update per pass, which FerretDB makes very slow.)

    Finding pending documents is a search on `outbox_pending`, which FerretDB 1.24 answers by
    reading the whole collection (only `_id` lookups use an index): a pass over a collection of
    20,000 facts read them all, and an idle relay did so every `poll_interval`. A writer that
    knows what it just wrote therefore passes the ids to :meth:`hint`; a hinted collection is
    relayed by `_id` lookups of those documents, and searched (a sweep) only when no hints are
    waiting and `sweep_interval` (or nine times the last sweep's duration, if longer) has passed
    since the last sweep. Documents a pass could not finish (a failed send, a lease
    nearly expired) are hinted again. The sweep is the safety net that loses nothing: hints
    lost in a crash (the first pass after a start sweeps), events appended by updates that gave
    no hint, and documents written by another replica (whose relay does not hold the lease) go
    out with the next sweep: within `sweep_interval` rather than `poll_interval` when idle.
    """

    def __init__(
        self,
        collections: Sequence[Collection],
        producer: EventProducer,
        *,
        relay_id: str,
        batch_size: int = 500,
        poll_interval: float = 0.25,
        lease: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utc_now,
        sweep_interval: float = 5.0,
    ) -> None:
        self.collections = tuple(collections)
        self.producer = producer
        self.relay_id = relay_id
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease = lease
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self.sweep_interval = sweep_interval
        self.after_publish: Callable[[], None] | None = None
        """Test hook: called between publishing and removal (fault injection)."""
        # Per hinted collection: the ids to relay, oldest first (a dict as an ordered set).
        self._hinted: dict[str, dict[Any, None]] = {}
        self._next_sweep: dict[str, float] = {}

    def notify(self) -> None:
        """Something was just written: relay now instead of at the next poll."""
        self._wake.set()

    def hint(self, collection: Collection, doc_ids: Iterable[Any]) -> None:
        """Documents of `collection` were just written with pending events: relay them now,
        by `_id`, and search that collection only in sweeps from now on (see the class)."""
        self._hinted.setdefault(collection.name, {}).update(dict.fromkeys(doc_ids))
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Relay until `stop`; survives the broker being down, backing off meanwhile."""
        backoff = 0.5
        while not self._stopping:
            # Cleared before the pass, so a write that lands during the pass wakes the next one.
            self._wake.clear()
            try:
                await self.producer.start()
                result = await self.relay_once()
            except Exception as error:  # the broker or Mongo is away: retry, never give up
                log.warning("outbox relay %s: %s; retrying in %.1fs", self.relay_id, error, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if result.failed:
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            if result.published == 0:
                await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def relay_once(self) -> RelayPass:
        """One pass over every collection: publish what is pending, remove what was acked."""
        published = documents = failed = 0
        for collection in self.collections:
            if not await self._hold_lease(collection):
                # The lease holder's sweep relays what we were told about.
                self._hinted.get(collection.name, {}).clear()
                continue
            result = await self._relay_collection(collection)
            published += result.published
            documents += result.documents
            failed += result.failed
        return RelayPass(published, documents, failed)

    async def _hold_lease(self, collection: Collection) -> bool:
        """Take or renew this relay's lease on the collection; False if another relay has it."""
        now = self.clock()
        leases = collection.database[RELAY_LEASES]
        try:
            lease = await leases.find_one_and_update(
                {
                    "_id": collection.name,
                    "$or": [{"owner": self.relay_id}, {"until": {"$lt": now}}],
                },
                {"$set": {"owner": self.relay_id, "until": now + self.lease}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # the lease exists, is not ours and has not expired
        return lease is not None and lease["owner"] == self.relay_id

    def _observe_backlog(self, collection: Collection, pending: Sequence[Document]) -> None:
        entries = [_entry(entry) for doc in pending for entry in doc.get(OUTBOX, [])]
        OUTBOX_BACKLOG.labels(collection.name).set(len(entries))
        oldest = min((_queued_at(entry) for entry in entries), default=None)
        age = (self.clock() - oldest).total_seconds() if oldest is not None else 0.0
        OUTBOX_OLDEST_AGE.labels(collection.name).set(max(0.0, age))

    async def _pending(self, collection: Collection) -> list[Document] | None:
        """The documents to relay in this pass, or None when the collection is left alone."""
        hinted = self._hinted.get(collection.name)
        if hinted is None:  # nobody gives hints for this collection: search every pass
            return await self._search(collection)
        if hinted:
            ids = list(itertools.islice(hinted, self.batch_size))
            for doc_id in ids:
                del hinted[doc_id]
            # Read again rather than trusting what the writer wrote: an update since (e.g. an
            # erasure scrubbing a pending event) must go out as it is now.
            docs = await self._read(collection, ids)
            return [doc for doc in docs if doc is not None and doc.get(OUTBOX)]
        if time.monotonic() < self._next_sweep.get(collection.name, 0.0):
            return None
        started = time.monotonic()
        pending = await self._search(collection)
        # A sweep of a large collection takes seconds on FerretDB: spend at most about a tenth
        # of the time sweeping (on MongoDB, with its index, this is just `sweep_interval`).
        took = time.monotonic() - started
        self._next_sweep[collection.name] = time.monotonic() + max(self.sweep_interval, 9 * took)
        # Hints that arrived during the search for documents it found are handled here.
        for doc in pending:
            hinted.pop(doc["_id"], None)
        return pending

    async def _read(self, collection: Collection, ids: Sequence[Any]) -> list[Document | None]:
        """The outboxes of `ids`, by `_id` alone (FerretDB's indexed lookup), a few at a time:
        FerretDB serves a database from a bounded pool of SQLite connections."""
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(doc_id: Any) -> Document | None:
            async with gate:
                return await collection.find_one({"_id": doc_id}, _RELAYED_FIELDS)

        return list(await asyncio.gather(*(read(doc_id) for doc_id in ids)))

    def _retry_later(self, collection: Collection, doc_ids: Sequence[Any]) -> None:
        """Documents still pending after this pass go to the front of a hinted collection's
        queue, so a failed send is retried without waiting for a sweep, and before anything
        written since. A broker killed mid-pass may have kept events it never acknowledged;
        retried first, their copies follow the originals closely enough for the consumers'
        dedupe windows (the scorer remembers a customer's last 64 event ids) — retried last,
        after a long outage's backlog, they were counted twice (tests/system/
        test_infrastructure_faults.py)."""
        hinted = self._hinted.get(collection.name)
        if hinted is not None:
            waiting = dict(hinted)
            hinted.clear()
            hinted.update(dict.fromkeys(doc_ids))
            hinted.update(waiting)

    async def _search(self, collection: Collection) -> list[Document]:
        cursor = collection.find({PENDING: {"$gt": 0}}, _RELAYED_FIELDS).limit(self.batch_size)
        return [doc async for doc in cursor]

    async def _relay_collection(self, collection: Collection) -> RelayPass:
        leased_at = self.clock()
        pending = await self._pending(collection)
        if pending is None:
            return RelayPass(0, 0, 0)
        self._observe_backlog(collection, pending)
        if not pending:
            return RelayPass(0, 0, 0)
        try:
            return await self._publish(collection, pending, leased_at)
        except BaseException:
            # The broker or Mongo failed mid-pass: what this pass took stays pending.
            self._retry_later(collection, [doc["_id"] for doc in pending])
            raise

    async def _publish(
        self, collection: Collection, pending: list[Document], leased_at: datetime
    ) -> RelayPass:
        # Send everything first and wait for the acks together: one round trip per batch,
        # while the idempotent producer keeps each document's events in order on its key.
        sends: list[tuple[Document, list[asyncio.Future[Any]]]] = []
        for doc in pending:
            futures = [await self.producer.send(_record(entry)) for entry in doc.get(OUTBOX, [])]
            sends.append((doc, futures))
        results = await asyncio.gather(
            *(future for _, futures in sends for future in futures), return_exceptions=True
        )
        if self.after_publish is not None:
            self.after_publish()

        removals: list[UpdateOne | DeleteOne] = []
        unsent: list[Any] = []
        published = failed = 0
        position = 0
        for doc, futures in sends:
            outcomes = results[position : position + len(futures)]
            position += len(futures)
            acked = []
            for entry, outcome in zip(doc.get(OUTBOX, []), outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    break  # keep order: nothing after a failed event counts as delivered
                acked.append(entry)
            failed += len(futures) - len(acked)
            published += len(acked)
            if len(acked) < len(futures):
                unsent.append(doc["_id"])
            if acked and doc.get(BATCH) is True and len(acked) == len(futures):
                # An event batch fully published: its document goes (an update pulling a
                # thousand entries one by one would cost FerretDB far more). Only its relay
                # and an erasure write it, both under the write lock.
                removals.append(DeleteOne({"_id": doc["_id"]}))
            elif acked:
                # FerretDB's $pull only matches whole values, so remove the exact entries read;
                # entries appended meanwhile stay for the next pass.
                # Filter on _id alone: the only lookup FerretDB serves from an index.
                removals.append(
                    UpdateOne(
                        {"_id": doc["_id"]},
                        {"$pullAll": {OUTBOX: acked}, "$inc": {PENDING: -len(acked)}},
                    )
                )
        if self.clock() < leased_at + self.lease * 0.8:
            async with write_lock(collection):
                await bulk_update(collection, removals)
            self._retry_later(collection, unsent)
        else:
            # The pass outlived (most of) the lease, so another relay may be publishing the same
            # entries now; leave removal to it rather than decrementing the counter twice.
            # What we published stays pending and is published again: a duplicate, dropped.
            log.warning("outbox relay %s: lease nearly expired, not removing", self.relay_id)
            self._retry_later(collection, [doc["_id"] for doc in pending])
        if failed:
            first_error = next(r for r in results if isinstance(r, BaseException))
            log.warning(
                "outbox relay %s: %d events not acked: %s", self.relay_id, failed, first_error
            )
            await self.producer.restart()
        return RelayPass(published, len(pending), failed)
