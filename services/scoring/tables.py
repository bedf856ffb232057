"""The feature table: customer id → `processing.CustomerRecord` (a JSON dict).

Changelog-backed, so a restarted worker recovers every customer's state, the ids of their
recent events (dedupe across restarts) and their last alerted band. `use_partitioner` lets
the review timer write outside a stream event: the changelog partition then comes from the
producer's partitioner on the same key bytes as the input topics, so it stays co-partitioned.
"""

from __future__ import annotations

from typing import Any

import faust

TABLE_NAME = "customer-features"


def declare(app: faust.App) -> Any:
    return app.Table(
        TABLE_NAME,
        key_type=str,
        default=None,
        use_partitioner=True,
        help="Feature state, dedupe window and alert baseline per customer",
    )
