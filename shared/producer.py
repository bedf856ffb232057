"""The one way events get onto Kafka: an idempotent, `acks=all`, customer-keyed producer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.events import Event, KafkaRecord, encode
from shared.observability import EVENTS_PUBLISHED
from shared.settings import ConnectionSettings


class EventProducer:
    """Publishes records and events; `stop` flushes so nothing queued is dropped.

    Batching is tuned for throughput without hurting latency much: a few milliseconds of
    `linger_ms` let the relay and the scorer fill batches when busy and cost ~nothing when idle.
    `start` may be called again after a failure (the broker was down): each attempt builds a
    fresh client, because an aiokafka producer whose start failed cannot be restarted.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        client_id: str,
        linger_ms: int = 5,
        max_batch_size: int = 256 * 1024,
        request_timeout_ms: int = 15000,
    ) -> None:
        self._options: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "client_id": client_id,
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "request_timeout_ms": request_timeout_ms,
        }
        self._producer: AIOKafkaProducer | None = None

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**self._options)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.flush()
            finally:
                await producer.stop()

    async def restart(self) -> None:
        """Drop the client (after an unrecoverable send error) and build a new one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        await self.start()

    async def send(self, record: KafkaRecord) -> asyncio.Future[Any]:
        """Queue one record; the returned future resolves when the broker acknowledged it."""
        if self._producer is None:
            raise RuntimeError("EventProducer.send before start")
        future: asyncio.Future[Any] = await self._producer.send(
            record.topic, record.value, key=record.key, headers=list(record.headers)
        )
        future.add_done_callback(_count_published(record))
        return future

    async def tombstones(self, topic: str, keys: Iterable[str]) -> None:
        """Publish a tombstone (no value) per key on a compacted topic and wait for the acks."""
        if self._producer is None:
            raise RuntimeError("EventProducer.tombstones before start")
        pending = [await self._producer.send(topic, None, key=key.encode()) for key in keys]
        if pending:
            await asyncio.gather(*pending)

    async def publish(self, events: Iterable[Event[Any]]) -> None:
        """Publish events and wait until the broker acknowledged every one."""
        await self.publish_records([encode(event) for event in events])

    async def publish_records(self, records: Iterable[KafkaRecord]) -> None:
        pending = [await self.send(record) for record in records]
        if pending:
            await asyncio.gather(*pending)


def _count_published(record: KafkaRecord) -> Callable[[asyncio.Future[Any]], None]:
    event_type = next(
        (value.decode() for key, value in record.headers if key == "ce_type"), "unknown"
    )

    def count(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            EVENTS_PUBLISHED.labels(record.topic, event_type).inc()

    return count
