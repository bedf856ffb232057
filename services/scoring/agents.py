"""The scorer's agents and review timer: short loops over `Scorer`, which calls pure functions.

One agent per input topic, `concurrency=1` (ARCHITECTURE.md §2: higher concurrency can commit
past an unprocessed message). Per message: decode (poison → DLQ), convert, dedupe by event id,
fold, score, emit, store. Outputs are emitted *before* the table is written: after a crash in
between, the redelivered event is not yet marked seen and is re-scored to the same score (same
deterministic event id), instead of being skipped with its outputs lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import faust

from services.scoring import metrics
from services.scoring.adapter import to_input
from services.scoring.domain import DEFAULT_PARAMS, ScoringParams
from services.scoring.domain import events as domain_events
from services.scoring.outputs import Outputs
from services.scoring.processing import (
    CustomerRecord,
    Rescored,
    absorb,
    apply_all,
    is_due,
    plan_review,
    rescore,
    scored_as_of,
)
from services.scoring.tables import CustomerRecords
from shared.consumer import Origin
from shared.events import Event, PoisonMessage, decode
from shared.events.codec import ErrorClass, Headers
from shared.events.customer import CustomerErased, CustomerMerged
from shared.keyed_locks import KeyedLocks

log = logging.getLogger(__name__)

REVIEW_SLICE = 500  # customers reviewed or rescored per turn of the event loop
# Customers whose scores go to the outputs together while the batch's next ones are scored.
EMIT_SLICE = 250


class _OutputsInOrder:
    """Slices of a batch's scores, stored and published one after another in the background
    while the caller scores the next slice: the database and the broker work on the other core
    meanwhile, instead of waiting for the whole batch to be scored first. `done` waits for
    the last slice (and so for all); a slice goes out only after the one before it."""

    def __init__(self, emit: Callable[[list[tuple[str, Rescored]]], Awaitable[None]]) -> None:
        self._emit = emit
        self._last: asyncio.Task[None] | None = None

    def send(self, scores: list[tuple[str, Rescored]]) -> None:
        self._last = asyncio.create_task(self._after(self._last, scores))

    async def _after(
        self, previous: asyncio.Task[None] | None, scores: list[tuple[str, Rescored]]
    ) -> None:
        if previous is not None:
            await previous
        await self._emit(scores)

    async def done(self) -> None:
        if self._last is not None:
            await self._last

    def cancel(self) -> None:
        """Stop sending (the batch is abandoned: it will be redelivered)."""
        if self._last is not None:
            self._last.cancel()  # cancels the slices before it too: each awaits its predecessor


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


@dataclass(frozen=True)
class Retirement:
    """A customer to forget; `into` is the survivor of a merge (None for an erasure), which
    takes the customer's record over, as of the merge (`at`)."""

    customer_id: str
    into: str | None = None
    at: datetime | None = None

    def to_bytes(self) -> bytes:
        if self.into is None:
            return b""
        at = None if self.at is None else self.at.isoformat()
        return json.dumps({"into": self.into, "at": at}).encode()

    @classmethod
    def from_message(cls, key: bytes, value: bytes | None) -> Retirement:
        if not value:
            return cls(key.decode())
        body = json.loads(value)
        at = None if body.get("at") is None else datetime.fromisoformat(body["at"])
        return cls(key.decode(), into=body["into"], at=at)


@dataclass(frozen=True)
class Absorption:
    """A merged-away customer's record, sent to the worker that owns the survivor."""

    survivor: str
    absorbed_id: str
    record: CustomerRecord
    at: datetime | None = None

    def to_bytes(self) -> bytes:
        at = None if self.at is None else self.at.isoformat()
        return json.dumps({"absorbed": self.absorbed_id, "at": at, "record": self.record}).encode()

    @classmethod
    def from_message(cls, key: bytes, value: bytes) -> Absorption:
        body = json.loads(value)
        at = None if body.get("at") is None else datetime.fromisoformat(body["at"])
        return cls(key.decode(), body["absorbed"], body["record"], at)


@dataclass
class Scorer:
    """Message handling and time-driven review over a customer table (a mutable mapping)."""

    table: CustomerRecords
    outputs: Outputs
    clock: Callable[[], datetime]
    max_future_skew: timedelta
    params: ScoringParams = DEFAULT_PARAMS
    history_resolution: timedelta = timedelta(days=1)
    # Sends customers to the retirements topic (their owners forget them) and merged-away
    # records to the absorptions topic (the survivor's owner folds them in); set by the
    # worker. Awaited before the batch is committed, so no request is lost to a crash.
    request_retirement: Callable[[Sequence[Retirement]], Awaitable[None]] | None = None
    hand_over: Callable[[Sequence[Absorption]], Awaitable[None]] | None = None
    # Makes sure the table's changelog can be written (set by the worker; see worker.py).
    before_table_writes: Callable[[], Awaitable[None]] | None = None
    # Waits until the broker has the changelog records of the table writes so far (set by the
    # worker; see worker.py): a batch is acked, and its offsets committed, only after that.
    after_table_writes: Callable[[], Awaitable[None]] | None = None
    locks: KeyedLocks = field(default_factory=KeyedLocks)

    async def handle(self, message: Message) -> None:
        await self.handle_batch([message])

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        """Fold a batch of messages, then store and publish the customers' fresh scores.

        Coalescing is what makes the scorer fast: a customer's events in one batch cost one
        score per `history_resolution` of event time (live traffic: one score; a replayed
        history: one per day it spans, so the score history keeps its shape), and every write
        of the batch goes out in bulk. Each score equals what scoring event by event gives at
        the same event (same state, same as-of); only the scores in between are not published.
        The scores go out in slices of `EMIT_SLICE` customers while the next are scored, and
        the batch is done (table written, offsets acked) once every slice is out.
        """
        by_customer: dict[str, list[tuple[Event[Any], domain_events.Event | None]]] = {}
        leaving: list[Retirement] = []
        for message in messages:
            decoded = await self._decode(message)
            if decoded is not None:
                by_customer.setdefault(decoded[0].subject, []).append(decoded)
                leaving.extend(retired_by(decoded[0]))
        async with self.locks.hold_all(sorted(by_customer)):
            fresh: list[tuple[str, Rescored]] = []
            records: dict[str, CustomerRecord] = {}
            reflected: list[Event[Any]] = []  # the events the fresh scores reflect
            outputs = _OutputsInOrder(self._emit)
            try:
                for customer_id, events in by_customer.items():
                    if len(fresh) >= EMIT_SLICE:
                        outputs.send(fresh)
                        fresh = []
                    # A turn of the event loop per customer: a reply from the database or the
                    # broker to the slices already sent gets their next command out at once.
                    await asyncio.sleep(0)
                    record, scores, scored = self._score(customer_id, events)
                    fresh.extend((customer_id, rescored) for rescored in scores)
                    reflected.extend(scored)
                    if record is not None:
                        records[customer_id] = record
                if fresh:
                    outputs.send(fresh)
                await outputs.done()
            except BaseException:
                outputs.cancel()
                raise
            # Outputs first, table second: after a crash in between, the redelivered events
            # are not yet marked seen and are re-scored to the same scores (same event ids).
            await self._prepare_table_writes()
            for customer_id, record in records.items():
                self.table[customer_id] = record
            await self._table_written()
        if leaving and self.request_retirement is not None:
            await self.request_retirement(leaving)
        now = self.clock()
        for event in reflected:
            metrics.EVENTS_SCORED.labels(event.type).inc()
            metrics.EVENT_TO_SCORE.observe(max(0.0, (now - event.time).total_seconds()))

    def _score(
        self, customer_id: str, events: list[tuple[Event[Any], domain_events.Event | None]]
    ) -> tuple[CustomerRecord | None, list[Rescored], list[Event[Any]]]:
        """Fold a customer's events of one batch, scoring each `history_resolution` period's
        last one; the customer's new record, its fresh scores and the events they reflect."""
        record = self.table.get(customer_id)
        scores: list[Rescored] = []
        reflected: list[Event[Any]] = []
        for segment in self._segments(events):
            folded, positions = apply_all(record, [(event.id, item) for event, item in segment])
            if folded is None:
                continue  # every event a duplicate: already counted
            record = folded.record
            scoring = [segment[p][0] for p in positions if segment[p][1] is not None]
            if not scoring:
                continue
            reflected.extend(scoring)
            rescored = rescore(
                record,
                customer_id=customer_id,
                as_of=scoring[-1].time,
                computed_at=self.clock(),
                params=self.params,
                state=folded.state,
            )
            scores.append(rescored)
            record = rescored.record
        return record, scores, reflected

    def _segments(
        self, events: list[tuple[Event[Any], domain_events.Event | None]]
    ) -> list[list[tuple[Event[Any], domain_events.Event | None]]]:
        """A customer's events of one batch, in order, cut where event time enters a new
        `history_resolution` period (always one segment for live traffic)."""
        step = self.history_resolution.total_seconds()
        segments: list[list[tuple[Event[Any], domain_events.Event | None]]] = []
        period: float | None = None
        for event, item in events:
            current = event.time.timestamp() // step
            if period is None or current != period:
                segments.append([])
                period = current
            segments[-1].append((event, item))
        return segments

    async def _decode(
        self, message: Message
    ) -> tuple[Event[Any], domain_events.Event | None] | None:
        try:
            event = decode(
                message.value,
                message.headers,
                now=self.clock(),
                max_future_skew=self.max_future_skew,
            )
            return event, to_input(event)
        except PoisonMessage as poison:
            await self._dead_letter(message, poison.error_class, poison.reason, "PoisonMessage")
        except ValueError as error:  # the domain refused a value the contract allowed
            await self._dead_letter(message, "schema_invalid", str(error), type(error).__name__)
        return None

    async def _emit(self, fresh: list[tuple[str, Rescored]]) -> None:
        """Store and publish, retrying until it works: the batch's offsets are committed once
        this returns, so giving up would lose the scores (the database or broker is away)."""
        delay = 0.5
        while True:
            try:
                with metrics.SCORE_WRITE.time():
                    await self.outputs.emit(fresh)
                return
            except Exception as error:
                log.warning("scoring: storing %d scores failed (%s); retrying", len(fresh), error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def retire(self, retirements: Sequence[Retirement]) -> None:
        """Forget customers this worker owns: table entry, stored scores, published score.

        A customer merged into another first hands its record over to the survivor's owner,
        awaited before the entry goes: after a crash in between, the redelivered retirement
        hands it over again and the survivor ignores the repeat (`processing.absorb`)."""
        customer_ids = [r.customer_id for r in retirements]
        async with self.locks.hold_all(customer_ids):
            handovers = [
                Absorption(r.into, r.customer_id, record, r.at)
                for r in retirements
                if r.into is not None
                and r.into != r.customer_id
                and (record := self.table.get(r.customer_id))
            ]
            if handovers and self.hand_over is not None:
                await self.hand_over(handovers)
            await self._prepare_table_writes()
            for customer_id in customer_ids:
                self.table.pop(customer_id, None)
            await self._table_written()
            await self.outputs.retire(sorted(set(customer_ids)))

    async def absorb(self, absorptions: Sequence[Absorption]) -> None:
        """Fold merged-away customers' records into their survivors (owned by this worker)
        and rescore each survivor as of the merge."""
        async with self.locks.hold_all([a.survivor for a in absorptions]):
            records: dict[str, CustomerRecord] = {}
            fresh: list[tuple[str, Rescored]] = []
            for absorption in absorptions:
                survivor = absorption.survivor
                current = records.get(survivor) or self.table.get(survivor)
                record = absorb(
                    current, absorbed_id=absorption.absorbed_id, absorbed=absorption.record
                )
                if record is None:
                    continue  # a repeat: already folded in
                as_of = max(
                    (t for t in (absorption.at, scored_as_of(record)) if t is not None),
                    default=None,
                )
                if as_of is not None:
                    rescored = rescore(
                        record,
                        customer_id=survivor,
                        as_of=as_of,
                        computed_at=self.clock(),
                        params=self.params,
                    )
                    fresh.append((survivor, rescored))
                    record = rescored.record
                records[survivor] = record
            if fresh:
                await self._emit(fresh)
            await self._prepare_table_writes()
            for survivor, record in records.items():
                self.table[survivor] = record
            await self._table_written()

    async def review(self) -> int:
        """Rescore every local customer whose `next_review_at` has passed, planning first the
        reviews that came due unplanned (a customer whose planned review lies later waits for
        it); how many were rescored."""
        now = self.clock()
        return await self._rescore_in_slices(await self.table.due(now), now, review=True)

    async def rescore_now(self, customer_ids: Sequence[str]) -> int:
        """Rescore these customers as of now (those this worker knows); how many were."""
        unique = list(dict.fromkeys(customer_ids))
        return await self._rescore_in_slices(unique, self.clock(), review=False)

    async def _rescore_in_slices(
        self, customer_ids: Sequence[str], now: datetime, *, review: bool
    ) -> int:
        """A slice of `REVIEW_SLICE` customers at a time, each stored, published and written
        to the table before the next, letting the agents run in between: a sweep after a long
        pause can find every customer due, and a million scores held at once took gigabytes
        and one endless write."""
        count = 0
        for first in range(0, len(customer_ids), REVIEW_SLICE):
            some = customer_ids[first : first + REVIEW_SLICE]
            count += await self._rescore_slice(some, now, review=review)
            await asyncio.sleep(0)
        return count

    async def _rescore_slice(
        self, customer_ids: Sequence[str], now: datetime, *, review: bool
    ) -> int:
        async with self.locks.hold_all(customer_ids):
            fresh: list[tuple[str, Rescored]] = []
            planned: dict[str, CustomerRecord] = {}  # reviewed, not due after all
            for customer_id in customer_ids:
                record = self.table.get(customer_id)
                if not record:
                    continue
                if review:
                    record_planned = plan_review(record, now, self.params)
                    if not is_due(record_planned, now):
                        if record_planned is not record:
                            planned[customer_id] = record_planned
                        continue
                    record = record_planned
                rescored = rescore(
                    record, customer_id=customer_id, as_of=now, computed_at=now, params=self.params
                )
                fresh.append((customer_id, rescored))
            if fresh:
                await self._emit(fresh)
            await self._prepare_table_writes()
            for customer_id, record in planned.items():
                self.table[customer_id] = record
            for customer_id, rescored in fresh:
                self.table[customer_id] = rescored.record
            await self._table_written()
        return len(fresh)

    async def _prepare_table_writes(self) -> None:
        if self.before_table_writes is not None:
            await self.before_table_writes()

    async def _table_written(self) -> None:
        if self.after_table_writes is not None:
            await self.after_table_writes()

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


def retired_by(event: Event[Any]) -> list[Retirement]:
    """The customers an event removes from scoring: the erased one, or the ones merged away
    (into the survivor, which takes their records over; the survivor itself stays)."""
    if event.type == CustomerErased.event_type:
        return [Retirement(event.subject)]
    if event.type == CustomerMerged.event_type:
        merged: CustomerMerged = event.data
        return [
            Retirement(customer, into=event.subject, at=event.time)
            for customer in merged.merged_ids
            if customer != event.subject
        ]
    return []


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
    retirements: Any
    absorptions: Any
    rescore_requests: Any


def register(
    app: faust.App,
    *,
    scorer: Scorer,
    inputs: Iterable[Any],
    retirements: Any,
    absorptions: Any,
    rescore_requests: Any,
    sweep_interval_s: float,
    batch_size: int,
    batch_wait_s: float,
) -> Agents:
    """One agent per input topic, plus the review timer (on every worker, over its partitions)."""
    agents = []
    for topic in inputs:
        name = topic.get_topic_name()

        async def consume(stream: Any, _name: str = name) -> None:
            # Batches are acked (committed) only after handle_batch returned.
            async for events in stream.take_events(batch_size, within=batch_wait_s):
                await scorer.handle_batch([_message(event, _name) for event in events])

        agent_name = "score-" + name.replace(".", "-")
        agents.append(app.agent(topic, name=agent_name, concurrency=1)(consume))

    async def review() -> None:
        await scorer.review()

    timer = app.timer(sweep_interval_s, on_leader=False, name="scoring-review")(review)

    async def forget(stream: Any) -> None:
        async for events in stream.take_events(batch_size, within=batch_wait_s):
            await scorer.retire(
                [Retirement.from_message(event.key, event.value) for event in events if event.key]
            )

    forgetting = app.agent(retirements, name="scoring-retire", concurrency=1)(forget)

    async def take_over(stream: Any) -> None:
        async for events in stream.take_events(batch_size, within=batch_wait_s):
            await scorer.absorb(
                [Absorption.from_message(e.key, e.value) for e in events if e.key and e.value]
            )

    absorbing = app.agent(absorptions, name="scoring-absorb", concurrency=1)(take_over)

    async def on_request(stream: Any) -> None:
        async for events in stream.take_events(batch_size, within=batch_wait_s):
            count = await scorer.rescore_now([e.key.decode() for e in events if e.key])
            log.info("rescored %d customers on request", count)

    requested = app.agent(rescore_requests, name="scoring-rescore", concurrency=1)(on_request)

    async def request(leaving: Sequence[Retirement]) -> None:
        sent = [
            await retirements.send(key=r.customer_id.encode(), value=r.to_bytes()) for r in leaving
        ]
        await asyncio.gather(*sent)

    async def hand_over(handovers: Sequence[Absorption]) -> None:
        sent = [
            await absorptions.send(key=a.survivor.encode(), value=a.to_bytes()) for a in handovers
        ]
        await asyncio.gather(*sent)

    scorer.request_retirement = request
    scorer.hand_over = hand_over
    interaction, complaint, customer = agents
    return Agents(
        interaction=interaction,
        complaint=complaint,
        customer=customer,
        review=timer,
        retirements=forgetting,
        absorptions=absorbing,
        rescore_requests=requested,
    )
