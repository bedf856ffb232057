"""The consumer toolkit: decode, validate, dedupe, dispatch to plain handlers, dead-letter poison.

The pieces are usable one by one (the scorer's Faust agents call :func:`shared.events.decode`,
:class:`DeadLetters` and :class:`ProcessedEvents` themselves); :class:`EventConsumer` puts
them together on an aiokafka consumer group for the services.

Error policy: a message that can never succeed (undecodable, schema-invalid, unknown type,
event time in the future, a handler that keeps failing) goes to ``<topic>.dlq`` with the reason
and its origin in headers, and consumption goes on. An unreachable MongoDB is not the message's
fault: the consumer waits and retries without committing, so nothing is skipped or dead-lettered.
Offsets are committed only after the handlers' effects (and the dedupe marks) are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from shared import observability
from shared.events import Event, KafkaRecord, PoisonMessage, decode, utc_now
from shared.events.codec import ErrorClass, Headers
from shared.mongo import Collection
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import DLQ_SUFFIX, TopicSpec

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

Handler = Callable[[Event[Any]], Awaitable[None]]
TombstoneHandler = Callable[[str], Awaitable[None]]

# Errors that say "the database is away", not "this message is bad".
UNAVAILABLE = (ConnectionFailure, ServerSelectionTimeoutError)

DLQ_HEADER_PREFIX = "dlq_"


class ConsumerStopping(Exception):
    """The consumer is shutting down while waiting for its database."""


@dataclass(frozen=True)
class Origin:
    """Where a message was read from."""

    topic: str
    partition: int
    offset: int


class DeadLetters:
    """Sends poison messages to `<topic>.dlq`: original key, value and headers, plus the reason."""

    def __init__(
        self,
        producer: EventProducer,
        *,
        consumer_group: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.producer = producer
        self.consumer_group = consumer_group
        self.clock = clock

    async def send(
        self,
        *,
        origin: Origin,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        error_class: ErrorClass,
        reason: str,
        error: str,
    ) -> asyncio.Future[Any]:
        """Queue the dead letter; the future resolves when the broker acknowledged it."""
        kept = [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]
        dlq_headers = [
            ("dlq_reason", reason[:2000].encode()),
            ("dlq_error_class", error_class.encode()),
            ("dlq_error", error.encode()),
            ("dlq_origin_topic", origin.topic.encode()),
            ("dlq_origin_partition", str(origin.partition).encode()),
            ("dlq_origin_offset", str(origin.offset).encode()),
            ("dlq_consumer_group", self.consumer_group.encode()),
            ("dlq_failed_at", self.clock().isoformat().encode()),
        ]
        record = KafkaRecord(
            topic=origin.topic + DLQ_SUFFIX,
            key=key or b"",
            value=value or b"",
            headers=tuple(kept + dlq_headers),
        )
        return await self.producer.send(record)


class ProcessedEvents:
    """Which events a consumer group already handled, per partition, across restarts.

    Duplicates come from the producers' side (a relay that re-publishes after a crash, a DLQ
    replay) and land in the same partition as the original, shortly after it. So the marks are
    kept in memory per assigned partition, written to Mongo as one document per batch (not one
    per event, which would cap the consume rate at the database's insert rate), and loaded back
    when a partition is assigned: the newest `max_per_partition` marks within `window`.
    """

    def __init__(
        self,
        collection: Collection,
        *,
        window: timedelta = timedelta(days=7),
        max_per_partition: int = 50_000,
    ) -> None:
        self.collection = collection
        self.window = window
        self.max_per_partition = max_per_partition
        self._recent: dict[tuple[str, int], dict[str, None]] = {}

    @staticmethod
    def _mark(topic: str, partition: int, event_id: str) -> str:
        return f"{topic}|{partition}|{event_id}"

    async def load(self, partitions: Sequence[tuple[str, int]], *, now: datetime) -> None:
        """Read the marks of newly assigned partitions from Mongo."""
        wanted = {(topic, partition) for topic, partition in partitions}
        for key in wanted:
            self._recent[key] = {}
        cursor = self.collection.find({"at": {"$gte": now - self.window}}).sort("at", 1)
        async for batch in cursor:
            for mark in batch["marks"]:
                topic, partition, event_id = mark.split("|", 2)
                key = (topic, int(partition))
                if key in wanted:
                    self.mark(key, event_id)

    def forget(self, partitions: Sequence[tuple[str, int]]) -> None:
        """Drop the marks of revoked partitions from memory (they stay in Mongo)."""
        for key in partitions:
            self._recent.pop(key, None)

    def seen(self, topic: str, partition: int, event_id: str) -> bool:
        return event_id in self._recent.get((topic, partition), {})

    def mark(self, key: tuple[str, int], event_id: str) -> None:
        """Remember in memory that the event was handled (persisted by `remember`)."""
        recent = self._recent.setdefault(key, {})
        recent[event_id] = None
        if len(recent) > self.max_per_partition:
            del recent[next(iter(recent))]  # dicts keep insertion order: oldest first

    async def remember(self, handled: Sequence[tuple[str, int, str]], *, at: datetime) -> None:
        """Store the marks of one batch (topic, partition, event id) in one document."""
        if not handled:
            return
        for topic, partition, event_id in handled:
            self.mark((topic, partition), event_id)
        marks = [self._mark(*entry) for entry in handled]
        await self.collection.insert_one({"at": at, "marks": marks})

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Drop stored marks older than the window (run now and then)."""
        result = await self.collection.delete_many({"at": {"$lt": cutoff}})
        return result.deleted_count

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("at")


@dataclass
class ConsumerStats:
    handled: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)


class EventConsumer:
    """One consumer group over some topics, dispatching events to handlers by type."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        group_id: str,
        topics: Sequence[TopicSpec],
        handlers: Mapping[str, Handler],
        processed: ProcessedEvents,
        producer: EventProducer,
        on_tombstone: TombstoneHandler | None = None,
        max_future_skew: timedelta = timedelta(minutes=5),
        max_attempts: int = 3,
        retry_delay: float = 0.1,
        max_batch: int = 1000,
        clock: Callable[[], datetime] = utc_now,
        client_id: str | None = None,
        after_batch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`after_batch` runs once the handlers of a fetched batch are done, before the batch
        is marked processed and committed: handlers that buffer their writes (one bulk write
        per batch instead of one per event) flush them there. It is retried while the
        database is unavailable."""
        self.settings = settings
        self.group_id = group_id
        self.topics = tuple(topics)
        self.handlers = dict(handlers)
        self.processed = processed
        self.producer = producer
        self.dead_letters = DeadLetters(producer, consumer_group=group_id, clock=clock)
        self.on_tombstone = on_tombstone
        self.max_future_skew = max_future_skew
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_batch = max_batch
        self.clock = clock
        self.client_id = client_id or group_id
        self.after_batch = after_batch
        self.stats = ConsumerStats()
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self._compacted = {t.name for t in self.topics if t.cleanup_policy == "compact"}

    @property
    def assigned(self) -> bool:
        return self._consumer is not None and bool(self._consumer.assignment())

    async def start(self) -> None:
        await self.producer.start()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        consumer.subscribe(
            topics=[t.name for t in self.topics], listener=_LoadMarksOnAssignment(self)
        )
        self._consumer = consumer

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit, and return."""
        self._stopping = True

    async def close(self) -> None:
        self._stopping = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def run(self) -> None:
        """Consume until `stop`; the batch in flight is finished and committed first."""
        backoff = 0.5
        while self._consumer is None and not self._stopping:
            try:
                await self.start()
            except Exception as error:  # the broker is away at start-up: keep trying
                log.warning(
                    "%s: cannot start (%s); retrying in %.1fs", self.group_id, error, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        if self._consumer is None:
            return
        try:
            while not self._stopping:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self.max_batch)
                if batches:
                    await self.process(batches)
        finally:
            await self.close()

    async def process(self, batches: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        """Handle one fetched batch (partitions side by side, each in order), then commit."""
        dead_letters: list[asyncio.Future[Any]] = []
        handled: list[tuple[str, int, str]] = []
        await asyncio.gather(
            *(
                self._process_partition(records, dead_letters, handled)
                for records in batches.values()
            )
        )
        if dead_letters:
            await asyncio.gather(*dead_letters)
        if self.after_batch is not None:
            await self._until_available(self.after_batch)
        await self._until_available(self.processed.remember, handled, at=self.clock())
        assert self._consumer is not None
        await self._consumer.commit(
            {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        )
        self._record_lag(batches)

    async def _process_partition(
        self,
        records: list[ConsumerRecord],
        dead_letters: list[asyncio.Future[Any]],
        handled: list[tuple[str, int, str]],
    ) -> None:
        now = self.clock()
        for record in records:
            if record.value is None and record.topic in self._compacted:
                if self.on_tombstone is not None and record.key is not None:
                    await self._until_available(self.on_tombstone, record.key.decode())
                continue
            try:
                event = decode(
                    record.value, record.headers, now=now, max_future_skew=self.max_future_skew
                )
            except PoisonMessage as poison:
                dead_letters.append(await self._dead_letter(record, poison, "PoisonMessage"))
                continue
            if self.processed.seen(record.topic, record.partition, event.id):
                self.stats.duplicates += 1
                self._count(record, event.type, "duplicate")
                continue
            handler = self.handlers.get(event.type)
            if handler is None:
                self.stats.ignored += 1  # a known type this consumer has no interest in
                self._count(record, event.type, "ignored")
                continue
            token = observability.event_id.set(event.id)
            try:
                error = await self._handle(handler, event)
            finally:
                observability.event_id.reset(token)
            if error is None:
                # Marked at once so a duplicate later in the same batch is caught too.
                self.processed.mark((record.topic, record.partition), event.id)
                handled.append((record.topic, record.partition, event.id))
                self.stats.handled += 1
                self._count(record, event.type, "handled")
            else:
                failure = PoisonMessage("handler_error", f"{type(error).__name__}: {error}")
                dead_letters.append(await self._dead_letter(record, failure, type(error).__name__))

    def _count(self, record: ConsumerRecord, event_type: str, outcome: str) -> None:
        observability.EVENTS_CONSUMED.labels(self.group_id, record.topic, event_type, outcome).inc()

    def _record_lag(self, batches: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        assert self._consumer is not None
        for tp, records in batches.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None and records:
                lag = max(0, highwater - (records[-1].offset + 1))
                observability.CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(
                    lag
                )

    async def _handle(self, handler: Handler, event: Event[Any]) -> Exception | None:
        """Run a handler with bounded retries; the last error if it never succeeded."""
        last: Exception | None = None
        attempt = 0
        while attempt < self.max_attempts:
            try:
                await handler(event)
                return None
            except UNAVAILABLE as error:
                # Not this event's fault: wait for the database without using up attempts.
                log.warning("%s: database unavailable (%s); retrying", self.group_id, error)
                await asyncio.sleep(1.0)
            except Exception as error:
                last = error
                attempt += 1
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_delay * 2**attempt)
        return last

    async def _until_available(
        self, operation: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        while True:
            try:
                return await operation(*args, **kwargs)
            except UNAVAILABLE as error:
                if self._stopping:
                    # Shutting down while the database is away: give up, commit nothing.
                    raise ConsumerStopping(self.group_id) from error
                log.warning("%s: database unavailable (%s); retrying", self.group_id, error)
                await asyncio.sleep(1.0)

    async def _dead_letter(
        self, record: ConsumerRecord, poison: PoisonMessage, error: str
    ) -> asyncio.Future[Any]:
        counts = self.stats.dead_lettered
        counts[poison.error_class] = counts.get(poison.error_class, 0) + 1
        observability.DEAD_LETTERS.labels(self.group_id, record.topic, poison.error_class).inc()
        log.warning(
            "%s: %s at %s/%d/%d -> dlq: %s",
            self.group_id,
            poison.error_class,
            record.topic,
            record.partition,
            record.offset,
            poison.reason,
        )
        return await self.dead_letters.send(
            origin=Origin(record.topic, record.partition, record.offset),
            key=record.key,
            value=record.value,
            headers=record.headers,
            error_class=poison.error_class,
            reason=poison.reason,
            error=error,
        )


class _LoadMarksOnAssignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """Loads dedupe marks for partitions this instance receives; drops those it loses."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.consumer.processed.forget([(tp.topic, tp.partition) for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        partitions = [(tp.topic, tp.partition) for tp in assigned]
        # Marks not loaded while stopping are not needed: nothing more is consumed.
        with contextlib.suppress(ConsumerStopping):
            await self.consumer._until_available(
                self.consumer.processed.load, partitions, now=self.consumer.clock()
            )
