"""The feature table: customer id → `processing.CustomerRecord` (a JSON dict).

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

from typing import Any

import faust

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
            use_partitioner=True,
            help="Feature state, dedupe window and alert baseline per customer",
        )
    )
