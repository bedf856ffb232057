"""Where a fresh score goes: Mongo `customer_scores` (guarded upsert) and `score_history`,
`crm.scores.v1` (ScoreUpdated) and `crm.alerts.v1` (ChurnAlertRaised); and the dead letters.

`Outputs` is the seam the agents talk to; tests swap in `RecordingOutputs`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError

from services.scoring.processing import Rescored
from shared.consumer import DeadLetters, Origin
from shared.events import KafkaRecord, encode
from shared.events.codec import ErrorClass, Headers
from shared.events.scoring import ScoreUpdated
from shared.mongo import Database, Document, bulk_update
from shared.outbox import write_lock
from shared.producer import EventProducer
from shared.topics import SCORES as SCORES_TOPIC

SCORES = "customer_scores"
HISTORY = "score_history"


Scored = tuple[str, Rescored]  # a customer id and its fresh score


class Outputs(Protocol):
    async def emit(self, scores: Sequence[Scored]) -> None:
        """Store and publish fresh scores, in order (a customer's last one is its current
        score); raise if not all were."""
        ...

    async def retire(self, customer_ids: Sequence[str]) -> None:
        """Forget customers: their stored scores and history go, and a tombstone on the
        compacted scores topic tells every reader (and log compaction) to drop them."""
        ...

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


def score_document(
    customer_id: str, event_id: str, data: ScoreUpdated, *, data_json: str | None = None
) -> Document:
    """How a score is stored (`customer_scores`; `score_history` under the event's id).

    The score itself is kept as the JSON text of the ScoreUpdated data, exactly as published
    on crm.scores.v1 (`data_json` when the caller has encoded it already); beside it, as
    fields, only what the read models filter, sort and count on. FerretDB 1.24 converts every
    field of a document on each write and read: the score as ~60 fields cost 0.64 ms to
    replace, 0.17 ms to insert and 0.39 ms to read per document; this layout 0.18, 0.07 and
    0.14 ms (`python -m bench scoring`, docs/benchmarks.md). `score_of` gives the score back.
    """
    return {
        "_id": customer_id,
        "customer_id": customer_id,
        "event_id": event_id,
        "as_of": data.as_of,
        "computed_at": data.computed_at,
        "churn": {"risk": data.churn.risk, "band": data.churn.band.value},
        "loyalty": {"band": data.loyalty.band},
        "value_tier": data.value_tier.value,
        "lifecycle": data.lifecycle.value,
        "score": data_json if data_json is not None else data.model_dump_json(),
    }


def history_document(document: Document) -> Document:
    """The `score_history` entry of a stored score: the same document under the event id."""
    return document | {"_id": document["event_id"]}


def score_of(document: Document) -> Document:
    """A stored score as the read API serves it: the ScoreUpdated data, with `_id`,
    `customer_id` and `event_id`, and the instants as the database holds them."""
    score: Document = json.loads(document["score"])
    for name in ("_id", "customer_id", "event_id", "as_of", "computed_at"):
        score[name] = document[name]
    return score


async def upsert_scores(db: Database, documents: Sequence[Document]) -> None:
    """Store each customer's latest score, replacing the one stored, in bulk.

    No read-before-write guard: a customer's scores are computed by the one worker that owns
    the customer's partition, one batch at a time, so the last write is the latest score. A
    per-document check would cost a read each — on FerretDB 1.24 a guarded filter (`_id` plus
    `as_of`) scans the collection, and 300 `_id` reads took longer than the 300 writes.
    Writes take the collection's write lock (shared.outbox.write_lock): FerretDB can lose one
    of two concurrent updates of a document.
    """
    collection = db[SCORES]
    async with write_lock(collection):
        await bulk_update(
            collection, [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in documents]
        )


@dataclass
class LiveOutputs:
    """Mongo + Kafka, through the shared producer (idempotent, acks=all)."""

    db: Database
    producer: EventProducer
    dead_letters: DeadLetters

    async def emit(self, scores: Sequence[Scored]) -> None:
        # Encoded once: the record's value is also the stored score's text.
        records: list[KafkaRecord] = []
        documents: list[Document] = []
        for customer_id, rescored in scores:
            record = encode(rescored.updated)
            records.append(record)
            documents.append(
                score_document(
                    customer_id,
                    rescored.updated.id,
                    rescored.updated.data,
                    data_json=record.value.decode(),
                )
            )
            if rescored.alert is not None:
                records.append(encode(rescored.alert))
        # History first: whoever sees a current score finds it in the history too (the 360
        # chart and the tests read the current score, then its history).
        history = [history_document(doc) for doc in documents]
        try:
            await self.db[HISTORY].insert_many(history, ordered=False)
        except BulkWriteError as error:
            # The same score re-emitted after a restart is already in the history: fine.
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                raise
        latest = {doc["_id"]: doc for doc in documents}  # the last one per customer wins
        await upsert_scores(self.db, list(latest.values()))
        await self.producer.publish_records(records)

    async def retire(self, customer_ids: Sequence[str]) -> None:
        scores, history = self.db[SCORES], self.db[HISTORY]
        for customer_id in customer_ids:
            async with write_lock(scores):
                await scores.delete_one({"_id": customer_id})
            # A scan on FerretDB (only `_id` filters use an index); erasures are rare.
            await history.delete_many({"customer_id": customer_id})
        await self.producer.tombstones(SCORES_TOPIC.name, customer_ids)

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

    emitted: list[Scored] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    async def emit(self, scores: Sequence[Scored]) -> None:
        self.emitted.extend(scores)

    async def retire(self, customer_ids: Sequence[str]) -> None:
        self.retired.extend(customer_ids)

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
