"""Where a fresh score goes: Mongo `customer_scores` (guarded upsert) and `score_history`,
`crm.scores.v1` (ScoreUpdated) and `crm.alerts.v1` (ChurnAlertRaised); and the dead letters.

`Outputs` is the seam the agents talk to; tests swap in `RecordingOutputs`.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from services.scoring.processing import Rescored
from shared.consumer import DeadLetters, Origin
from shared.events import Event
from shared.events.codec import ErrorClass, Headers
from shared.mongo import Database, Document
from shared.outbox import write_lock
from shared.producer import EventProducer

SCORES = "customer_scores"
HISTORY = "score_history"


class Outputs(Protocol):
    async def emit(self, customer_id: str, rescored: Rescored) -> None: ...

    async def dead_letter(
        self,
        *,
        origin: Origin,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        error_class: ErrorClass,
        reason: str,
        error: str,
    ) -> None: ...


def score_document(customer_id: str, rescored: Rescored) -> Document:
    """The `customer_scores` document: the published ScoreUpdated data plus the customer id."""
    doc: Document = rescored.updated.data.model_dump(mode="python")
    doc["_id"] = customer_id
    doc["customer_id"] = customer_id
    doc["event_id"] = rescored.updated.id
    return doc


async def upsert_score(db: Database, document: Document) -> bool:
    """Store `document` unless the stored one is as of a later time; whether it was written.

    A customer's scores are written by the one worker that owns the customer's partition, and
    within it under the collection's write lock (shared.outbox.write_lock), so read-then-write
    by `_id` alone is safe — and `_id`-only filters are the only ones FerretDB serves from an
    index (a filter on `_id` and `as_of` would scan the whole collection on every write).
    """
    collection = db[SCORES]
    async with write_lock(collection):
        current = await collection.find_one({"_id": document["_id"]}, {"as_of": 1})
        if current is None:
            try:
                await collection.insert_one(document)
                return True
            except DuplicateKeyError:
                return False
        stored: datetime = current["as_of"]
        if stored > document["as_of"]:
            return False
        await collection.replace_one({"_id": document["_id"]}, document)
        return True


@dataclass
class LiveOutputs:
    """Mongo + Kafka, through the shared producer (idempotent, acks=all)."""

    db: Database
    producer: EventProducer
    dead_letters: DeadLetters

    async def emit(self, customer_id: str, rescored: Rescored) -> None:
        document = score_document(customer_id, rescored)
        await upsert_score(self.db, document)
        history = dict(document)
        history["_id"] = rescored.updated.id
        # The same score re-emitted after a restart is already in the history.
        with suppress(DuplicateKeyError):
            await self.db[HISTORY].insert_one(history)
        events: list[Event[Any]] = [rescored.updated]
        if rescored.alert is not None:
            events.append(rescored.alert)
        await self.producer.publish(events)

    async def dead_letter(
        self,
        *,
        origin: Origin,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        error_class: ErrorClass,
        reason: str,
        error: str,
    ) -> None:
        sent = await self.dead_letters.send(
            origin=origin,
            key=key,
            value=value,
            headers=headers,
            error_class=error_class,
            reason=reason,
            error=error,
        )
        await sent


@dataclass
class RecordingOutputs:
    """In-memory outputs for tests."""

    emitted: list[tuple[str, Rescored]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)

    async def emit(self, customer_id: str, rescored: Rescored) -> None:
        self.emitted.append((customer_id, rescored))

    async def dead_letter(
        self,
        *,
        origin: Origin,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        error_class: ErrorClass,
        reason: str,
        error: str,
    ) -> None:
        self.dead.append(
            {
                "origin": origin,
                "key": key,
                "value": value,
                "error_class": error_class,
                "reason": reason,
                "error": error,
            }
        )
