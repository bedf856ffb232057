"""The scorer's agents and review timer: short loops over `Scorer`, which calls pure functions.

One agent per input topic, `concurrency=1` (ARCHITECTURE.md §2: higher concurrency can commit
past an unprocessed message). Per message: decode (poison → DLQ), convert, dedupe by event id,
fold, score, emit, store. Outputs are emitted *before* the table is written: after a crash in
between, the redelivered event is not yet marked seen and is re-scored to the same score (same
deterministic event id), instead of being skipped with its outputs lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import faust

from services.scoring import metrics
from services.scoring.adapter import to_input
from services.scoring.domain import DEFAULT_PARAMS, ScoringParams
from services.scoring.outputs import Outputs
from services.scoring.processing import apply, is_due, rescore
from shared.consumer import Origin
from shared.events import PoisonMessage, decode
from shared.events.codec import ErrorClass, Headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """What the scorer needs from one Kafka message (Faust-independent)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers


def normalise_headers(raw: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> Headers:
    """Faust hands headers over as a list of pairs (from Kafka) or a dict (in tests)."""
    if raw is None:
        return ()
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    return tuple(
        (str(key), value if isinstance(value, bytes) else str(value).encode())
        for key, value in pairs
    )


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it.

    Three agents (one per input topic) and the timer may touch the same customer; the lock
    keeps read-modify-write of that customer's record whole across the awaits of emitting.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass
class Scorer:
    """Message handling and time-driven review over a customer table (a mutable mapping)."""

    table: Any
    outputs: Outputs
    clock: Callable[[], datetime]
    max_future_skew: timedelta
    params: ScoringParams = DEFAULT_PARAMS
    locks: KeyedLocks = field(default_factory=KeyedLocks)

    async def handle(self, message: Message) -> None:
        try:
            event = decode(
                message.value,
                message.headers,
                now=self.clock(),
                max_future_skew=self.max_future_skew,
            )
            item = to_input(event)
        except PoisonMessage as poison:
            await self._dead_letter(message, poison.error_class, poison.reason, "PoisonMessage")
            return
        except ValueError as error:  # the domain refused a value the contract allowed
            await self._dead_letter(message, "schema_invalid", str(error), type(error).__name__)
            return
        customer_id = event.subject
        async with self.locks.hold(customer_id):
            folded = apply(self.table.get(customer_id), event_id=event.id, item=item)
            if folded is None:
                return  # a duplicate: already counted
            if item is None:
                self.table[customer_id] = folded.record
                return
            rescored = rescore(
                folded.record,
                customer_id=customer_id,
                as_of=event.time,
                computed_at=self.clock(),
                params=self.params,
            )
            with metrics.SCORE_WRITE.time():
                await self.outputs.emit(customer_id, rescored)
            self.table[customer_id] = rescored.record
            metrics.EVENTS_SCORED.labels(event.type).inc()
            lag = (self.clock() - event.time).total_seconds()
            metrics.EVENT_TO_SCORE.observe(max(0.0, lag))

    async def review(self) -> int:
        """Rescore every local customer whose `next_review_at` has passed; how many."""
        now = self.clock()
        due = [key for key, record in list(self.table.items()) if record and is_due(record, now)]
        done = 0
        for customer_id in due:
            async with self.locks.hold(customer_id):
                record = self.table.get(customer_id)
                if not record or not is_due(record, now):
                    continue
                rescored = rescore(
                    record,
                    customer_id=customer_id,
                    as_of=now,
                    computed_at=now,
                    params=self.params,
                )
                await self.outputs.emit(customer_id, rescored)
                self.table[customer_id] = rescored.record
                done += 1
        return done

    async def _dead_letter(
        self, message: Message, error_class: ErrorClass, reason: str, error: str
    ) -> None:
        log.warning(
            "scoring: %s at %s/%d/%d -> dlq: %s",
            error_class,
            message.topic,
            message.partition,
            message.offset,
            reason,
        )
        await self.outputs.dead_letter(
            origin=Origin(message.topic, message.partition, message.offset),
            key=message.key,
            value=message.value,
            headers=message.headers,
            error_class=error_class,
            reason=reason,
            error=error,
        )


def _message(event: Any, topic: str) -> Message:
    msg = event.message
    return Message(
        topic=msg.topic or topic,
        partition=msg.partition if msg.partition is not None else -1,
        offset=msg.offset if msg.offset is not None else -1,
        key=event.key,
        value=event.value,
        headers=normalise_headers(getattr(msg, "headers", None) or event.headers),
    )


@dataclass(frozen=True)
class Agents:
    interaction: Any
    complaint: Any
    customer: Any
    review: Any


def register(
    app: faust.App, *, scorer: Scorer, inputs: Iterable[Any], sweep_interval_s: float
) -> Agents:
    """One agent per input topic, plus the review timer (on every worker, over its partitions)."""
    agents = []
    for topic in inputs:
        name = topic.get_topic_name()

        async def consume(stream: Any, _name: str = name) -> None:
            async for event in stream.events():
                await scorer.handle(_message(event, _name))

        agent_name = "score-" + name.replace(".", "-")
        agents.append(app.agent(topic, name=agent_name, concurrency=1)(consume))

    async def review() -> None:
        await scorer.review()

    timer = app.timer(sweep_interval_s, on_leader=False, name="scoring-review")(review)
    interaction, complaint, customer = agents
    return Agents(interaction=interaction, complaint=complaint, customer=customer, review=timer)
