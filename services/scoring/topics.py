"""The scorer's input topics: raw bytes, because events are CloudEvents in Kafka binary mode.

Values are decoded by `shared.events.decode` from the value *and the headers*, so Faust must
not touch them (`value_serializer="raw"`); keys are the customer id as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from shared import topics as registry

INPUT_SPECS = (registry.INTERACTION, registry.COMPLAINT, registry.CUSTOMER)


@dataclass(frozen=True)
class InputTopics:
    interaction: Any
    complaint: Any
    customer: Any

    def all(self) -> tuple[Any, ...]:
        return (self.interaction, self.complaint, self.customer)


def _raw(app: faust.App, name: str) -> Any:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def control_topics(app_id: str) -> tuple[registry.TopicSpec, ...]:
    """The scorer's own request topics, created before the worker joins its group: a topic
    that appears only after the group's first assignment is not assigned to anyone."""
    return tuple(
        registry.TopicSpec(name, description, retention_ms=7 * registry.DAY_MS, has_dlq=False)
        for name, description in (
            (retirements_topic(app_id), "customers the scorer must forget"),
            (absorptions_topic(app_id), "merged-away customers' records for their survivors"),
            (rescore_requests_topic(app_id), "customers to rescore now"),
        )
    )


def retirements_topic(app_id: str) -> str:
    return f"{app_id}-retirements"


def absorptions_topic(app_id: str) -> str:
    return f"{app_id}-absorptions"


def rescore_requests_topic(app_id: str) -> str:
    """Where operators ask the scorer to rescore given customers now (`crm-ops rescore`)."""
    return f"{app_id}-rescore-requests"


def rescore_requests(app: faust.App) -> Any:
    """Customer ids to rescore as of now, keyed and partitioned like the inputs, so the
    worker that owns each customer's state does it."""
    return _internal(app, rescore_requests_topic(app.conf.id))


def _internal(app: faust.App, name: str) -> Any:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=app.conf.topic_partitions,
        internal=True,
    )


def retirements(app: faust.App) -> Any:
    """The scorer's own topic of customers to forget (erased, or merged into another):
    keyed by customer id and partitioned like the inputs, so the worker that owns a
    customer's table entry is the one that removes it."""
    return _internal(app, retirements_topic(app.conf.id))


def absorptions(app: faust.App) -> Any:
    """Records of customers merged into another, keyed by the survivor: the worker that owns
    the survivor folds them in (its owner may be another worker than the merged one's)."""
    return _internal(app, absorptions_topic(app.conf.id))


def declare(app: faust.App) -> InputTopics:
    """The input topics on `app` (names from the shared registry)."""
    return InputTopics(
        interaction=_raw(app, registry.INTERACTION.name),
        complaint=_raw(app, registry.COMPLAINT.name),
        customer=_raw(app, registry.CUSTOMER.name),
    )
