"""The feature table: customer id → `processing.CustomerRecord`, kept as bytes
(`processing.record_bytes`; `CustomerRecords` is the scorer's mapping of records over it).

Changelog-backed, so a restarted worker recovers every customer's state, the ids of their
recent events (dedupe across restarts) and their last alerted band. `use_partitioner` lets
the review timer write outside a stream event: the changelog partition then comes from the
producer's partitioner on the key bytes. Those must be the input topics' key bytes — the
customer id as UTF-8, hence the raw key serializer — so that a customer's changelog records
land in the partition the worker owning its events recovers. (Faust's default for table keys,
JSON, made them `"C-1"` with the quotes, and 92 % of customers hashed to another partition:
harmless with one worker, wrong state after a rebalance with several. The table was renamed
with that fix, so a changelog written the old way is never read as this table's.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from datetime import datetime
from typing import Any, cast

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import ensure_aiokafka_TP
from faust.types import StoreT
from yarl import URL

from services.scoring.processing import (
    CustomerRecord,
    record_bytes,
    record_from_bytes,
    review_due,
)

TABLE_NAME = "customer-state"


class CustomerStateTable(faust.Table[str, Any]):
    """A table whose str keys travel as their UTF-8 bytes (the input topics' key bytes).

    Faust derives a table's key codec from its key type (JSON for str) and takes no argument
    for it; the codec feeds the store, the changelog topic and every changelog record, all
    built from it in `__init__`, so it is chosen there.
    """

    def _serializer_from_type(self, typ: Any) -> Any:
        return "raw" if typ is str else super()._serializer_from_type(typ)

    def _new_store_by_url(self, url: str | URL) -> StoreT[Any, Any]:
        if URL(url).scheme != "rocksdb":
            return super()._new_store_by_url(url)
        # What Faust does for rocksdb://, with the store below.
        return KeyPartitionedRocksDB(
            url,
            self.app,
            self,
            table_name=self.name,
            key_type=self.key_type,
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            value_type=self.value_type,
            loop=self.loop,
            options=self.options,
        )


_PARTITIONER = DefaultPartitioner()


def changelog_partition(key: bytes, partitions: int) -> int:
    """The partition the producer's default partitioner gives `key`, which is where the
    table's changelog record of the key goes (`use_partitioner`) and, the key being the input
    topics' key bytes, the partition of the customer's events."""
    every = range(partitions)
    return int(_PARTITIONER(key, every, every))


class KeyPartitionedRocksDB(RocksDBStore):
    """Faust's RocksDB store (one database per changelog partition), writing each key into the
    database of its changelog partition.

    Faust 0.15 writes a key into the database of the partition of the event being processed
    (`current_event()`) and asserts there is one. The scorer writes its records after a batch
    of events from several partitions and from the review timer: there is no current event
    then, and with Faust's store the scoring agent crashed on that assertion
    (tests/integration/scoring/test_rocksdb_store.py). Where there were one, it would be a
    single event's partition for the records of customers of several partitions.
    """

    def _set(self, key: bytes, value: bytes | None) -> None:
        partitions = self.table.changelog_topic.partitions or self.app.conf.topic_partitions
        partition = changelog_partition(key, partitions)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)


def declare(app: faust.App) -> Any:
    # What app.Table does, with our table class.
    return app.tables.add(
        CustomerStateTable(
            app,
            name=TABLE_NAME,
            default=None,
            beacon=app.tables.beacon,
            key_type=str,
            value_type=bytes,  # raw: the record's bytes are the changelog value as they are
            use_partitioner=True,
            help="Feature state, dedupe window and alert baseline per customer",
        )
    )


DUE_SLICE = 20_000  # records looked at per turn of the event loop when finding those due


class CustomerRecords(MutableMapping[str, CustomerRecord]):
    """Customer id → record, over a table of the records' bytes (the Faust table, or a dict
    in tests). The table keeps bytes because Python objects cost memory: the same records took
    2.7× more as dicts (`python -m bench recovery`, docs/benchmarks.md). Each record is decoded
    when read and encoded when written; `due` finds the customers due a review without
    decoding the others."""

    def __init__(self, table: MutableMapping[str, bytes]) -> None:
        self.table = table

    def __getitem__(self, customer_id: str) -> CustomerRecord:
        return record_from_bytes(self.table[customer_id])

    def __setitem__(self, customer_id: str, record: CustomerRecord) -> None:
        self.table[customer_id] = record_bytes(record)

    def __delitem__(self, customer_id: str) -> None:
        del self.table[customer_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self.table

    async def due(self, now: datetime, *, slice_size: int = DUE_SLICE) -> list[str]:
        """The customers whose `next_review_at` has passed at `now`.

        Walks a snapshot of the table in slices and lets the event loop run between them: in
        one go, a sweep over a million customers held the agents up for about a second."""
        entries = list(self.table.items())
        found: list[str] = []
        for first in range(0, len(entries), slice_size):
            found.extend(
                key
                for key, value in entries[first : first + slice_size]
                if value and review_due(value, now)
            )
            await asyncio.sleep(0)
        return found


class SeekFirstRecovery(Recovery):
    """Faust's table recovery, with one change: the stream partitions are put back at their
    committed offsets by a seek that nothing can undo, *before* they are resumed.

    Faust 0.15 resumes them first, then seeks with aiokafka's `seek_to_committed`, and both
    lose messages:
    - the consumer (in its own thread) may be inside a long `getmany` called with Faust's live
      set of active partitions. When recovery pauses the changelog partitions, that set becomes
      empty, aiokafka reads an empty set as "every partition", and hands over the stream
      partitions' records; Faust drops them (their partitions are not active), but the fetch
      positions have moved on;
    - `seek_to_committed` does not seek a partition whose committed offset is 0, and fetches
      other partitions while it asks the coordinator for the next one's offset.

    A worker then started some hundred messages past its committed offsets, and once it
    committed, those messages were skipped for good: the three-kill system test lost a whole
    range of one partition in CI (on a fresh stack, where the partition had committed offset
    0), and the scale-out test lost ~24 messages per partition after a take-over.
    faust-streaming#216 reported the resume-then-seek order for the path without tables and
    fixed it there only.

    So the stream partitions are paused in aiokafka itself (a paused partition's records are
    never handed over), moved to their committed offsets (to the beginning, under "earliest",
    when the group has none), and resumed in aiokafka only after Faust counts them as active
    again. Everything else below is Faust's `on_recovery_completed` unchanged.
    """

    def _repr_name(self) -> str:
        return "Recovery"  # Faust's label, so the log reads as Faust's (ops and benches match it)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        app = cast(Any, self.app)
        consumer = app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again (generation %s)", generation_id)
            return
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if streams:
            self.log.info("Seek stream partitions to committed offsets, then resume them.")
            await self._wait(
                place_at_committed(
                    consumer, streams, earliest=app.conf.consumer_auto_offset_reset == "earliest"
                ),
                timeout=app.conf.broker_request_timeout,
            )
        consumer.resume_partitions(streams)
        await resume_fetching(consumer, streams)
        self.completed.set()
        app.flow_control.resume()
        consumer.resume_flow()
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


async def place_at_committed(consumer: Any, partitions: set[Any], *, earliest: bool) -> None:
    """Pause `partitions` in aiokafka and move each to the group's committed offset; Faust's own
    bookkeeping of read and committed offsets follows, as in its `perform_seek`. They stay
    paused in aiokafka until `resume_fetching`.

    A partition the group never committed goes back to its beginning under "earliest" (so
    nothing it holds is skipped). Under "latest" it stays where it is — where aiokafka put it
    when it was assigned, unless records handed over and dropped since moved it on: moving it
    to the end now would skip what was produced since (a client that waited for the worker to
    answer and then produced), and "latest" skips what came before it by design anyway.
    """
    kafka_partitions = {tp: ensure_aiokafka_TP(tp) for tp in partitions}

    async def place() -> dict[Any, tuple[int | None, int]]:
        # Runs in the consumer's thread, where its aiokafka consumer lives.
        kafka = consumer._thread._ensure_consumer()
        kafka.pause(*kafka_partitions.values())
        offsets = await asyncio.gather(*(kafka.committed(k) for k in kafka_partitions.values()))
        committed = dict(zip(kafka_partitions, offsets, strict=True))
        for tp, offset in committed.items():
            if offset is not None:
                kafka.seek(kafka_partitions[tp], offset)
        unset = [kafka_partitions[tp] for tp, offset in committed.items() if offset is None]
        if unset and earliest:  # one reset for all: each waits for a turn of the fetcher
            await kafka.seek_to_beginning(*unset)
        return {
            tp: (offset, await kafka.position(kafka_partitions[tp]))
            for tp, offset in committed.items()
        }

    placed = await consumer._thread.call_thread(place)
    for tp, (committed, position) in placed.items():
        consumer._read_offset[tp] = position or None
        if committed:
            consumer._committed_offset[tp] = committed
        else:
            consumer._committed_offset.pop(tp, None)


async def resume_fetching(consumer: Any, partitions: set[Any]) -> None:
    """Undo `place_at_committed`'s pause in aiokafka (a no-op for partitions not paused)."""
    kafka_partitions = [ensure_aiokafka_TP(tp) for tp in partitions]

    async def resume() -> None:
        consumer._thread._ensure_consumer().resume(*kafka_partitions)

    if kafka_partitions:
        await consumer._thread.call_thread(resume)


# Faust's logger too (mode gives a subclass one named after its module).
SeekFirstRecovery.logger = Recovery.logger


class ScorerTableManager(TableManager):
    """Faust's table manager with `SeekFirstRecovery` (the app's `TableManager` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
