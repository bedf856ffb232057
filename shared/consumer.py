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
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pymongo.errors import BulkWriteError, ConnectionFailure, ServerSelectionTimeoutError

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
    """Event ids already handled by a consumer, kept in its own Mongo collection.

    Checked and written once per batch (not per event) to keep the consume path fast.
    """

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def seen(self, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        cursor = self.collection.find({"_id": {"$in": list(event_ids)}}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def remember(self, event_ids: Sequence[str], *, at: datetime) -> None:
        if not event_ids:
            return
        try:
            await self.collection.insert_many(
                [{"_id": event_id, "at": at} for event_id in event_ids], ordered=False
            )
        except BulkWriteError as error:
            # A concurrent consumer (after a rebalance) remembered some first: that is fine.
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                raise

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Drop marks older than the longest plausible redelivery window."""
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
        max_batch: int = 500,
        clock: Callable[[], datetime] = utc_now,
        client_id: str | None = None,
    ) -> None:
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
            *(t.name for t in self.topics),
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group_id,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        self._consumer = consumer

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit, and return."""
        self._stopping = True

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def run(self) -> None:
        """Consume until `stop`; the batch in flight is finished and committed first."""
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
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
        await asyncio.gather(
            *(self._process_partition(records, dead_letters) for records in batches.values())
        )
        if dead_letters:
            await asyncio.gather(*dead_letters)
        assert self._consumer is not None
        await self._consumer.commit(
            {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        )

    async def _process_partition(
        self, records: list[ConsumerRecord], dead_letters: list[asyncio.Future[Any]]
    ) -> None:
        now = self.clock()
        decoded: list[tuple[ConsumerRecord, Event[Any]]] = []
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
            decoded.append((record, event))

        already = await self._until_available(
            self.processed.seen, [event.id for _, event in decoded]
        )
        handled_ids: list[str] = []
        for record, event in decoded:
            if event.id in already:
                self.stats.duplicates += 1
                continue
            handler = self.handlers.get(event.type)
            if handler is None:
                self.stats.ignored += 1  # a known type this consumer has no interest in
                continue
            error = await self._handle(handler, event)
            if error is None:
                already.add(event.id)
                handled_ids.append(event.id)
                self.stats.handled += 1
            else:
                failure = PoisonMessage("handler_error", f"{type(error).__name__}: {error}")
                dead_letters.append(await self._dead_letter(record, failure, type(error).__name__))
        await self._until_available(self._remember, handled_ids)

    async def _remember(self, event_ids: list[str]) -> None:
        await self.processed.remember(event_ids, at=self.clock())

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
                log.warning("%s: database unavailable (%s); retrying", self.group_id, error)
                await asyncio.sleep(1.0)

    async def _dead_letter(
        self, record: ConsumerRecord, poison: PoisonMessage, error: str
    ) -> asyncio.Future[Any]:
        counts = self.stats.dead_lettered
        counts[poison.error_class] = counts.get(poison.error_class, 0) + 1
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
