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
from faust.tables import TableManager
from faust.tables.recovery import Recovery

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

    def due(self, now: datetime) -> list[str]:
        """The customers whose `next_review_at` has passed at `now`."""
        return [key for key, value in list(self.table.items()) if value and review_due(value, now)]


class SeekFirstRecovery(Recovery):
    """Faust's table recovery, with one change: the stream partitions are moved to their
    committed offsets *before* they are resumed, not after.

    Faust 0.15 resumes them first, while its flow is already running (it was resumed to read
    the changelogs), so the fetcher hands messages to the agents while the seek is under way;
    the seek then moves the fetch position back and drops what had been prefetched. After a
    take-over (the scale-out system test, 1 run in 3) about 24 messages per partition never
    reached the scorer, and the consumer's acked-offset list got duplicates that stalled its
    commits. faust-streaming#216 reported this order for the path without tables and fixed it
    there only. Everything else below is Faust's `on_recovery_completed` unchanged.
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
        if assignment:
            self.log.info("Seek stream partitions to committed offsets, then resume them.")
            await self._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        self.completed.set()
        app.flow_control.resume()
        consumer.resume_flow()
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


# Faust's logger too (mode gives a subclass one named after its module).
SeekFirstRecovery.logger = Recovery.logger


class ScorerTableManager(TableManager):
    """Faust's table manager with `SeekFirstRecovery` (the app's `TableManager` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
