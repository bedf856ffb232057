"""The one registry of Kafka topics: names, keys, partitions, cleanup policy, retention, DLQs.

The stack tooling and the ops CLI create topics from here; services refer to topics only
through these constants, never by string literals. Every topic is keyed by the customer id so
that one customer's events stay ordered in one partition and Faust tables stay co-partitioned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CleanupPolicy = Literal["delete", "compact"]

DAY_MS = 24 * 60 * 60 * 1000
FOREVER = -1
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    """One Kafka topic as the product declares it."""

    name: str
    description: str
    cleanup_policy: CleanupPolicy = "delete"
    retention_ms: int = FOREVER
    key: str = "customer id"
    has_dlq: bool = True

    @property
    def dlq(self) -> TopicSpec:
        """The dead-letter topic for consumers of this topic."""
        if not self.has_dlq:
            raise ValueError(f"{self.name} is not consumed by the product and has no DLQ")
        return TopicSpec(
            name=self.name + DLQ_SUFFIX,
            description=f"Messages from {self.name} that could not be processed, with the reason",
            retention_ms=30 * DAY_MS,
            key="original key",
            has_dlq=False,
        )

    def config(self) -> dict[str, str]:
        """Topic-level configuration sent to the broker on creation."""
        config = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
        }
        if self.cleanup_policy == "compact":
            # Keep tombstones a day so consumers that lag a little still see erasures.
            config["delete.retention.ms"] = str(DAY_MS)
            config["min.compaction.lag.ms"] = "0"
        return config


# Fact logs are kept forever: the scorer and the read models are rebuilt by replaying them.
CUSTOMER = TopicSpec(
    "crm.customer.v1", "Customer archive changes: created, updated, merged, erased"
)
INTERACTION = TopicSpec(
    "crm.interaction.v1", "Contacts on every channel, and orders (placed, cancelled, returned)"
)
COMPLAINT = TopicSpec(
    "crm.complaint.v1", "Complaint workflow, SLA breaches and satisfaction surveys"
)
CONTACT_CENTER_INGEST = TopicSpec(
    "crm.ingest.contact-center.v1",
    "Raw events from external contact-center systems, validated by the interaction service",
    retention_ms=7 * DAY_MS,
)
SCORES = TopicSpec(
    "crm.scores.v1",
    "Latest loyalty and churn score per customer (compacted; a tombstone after erasure)",
    cleanup_policy="compact",
)
ALERTS = TopicSpec(
    "crm.alerts.v1",
    "Churn alerts and sharp loyalty drops, once per crossing",
    retention_ms=90 * DAY_MS,
)

PRODUCT_TOPICS: tuple[TopicSpec, ...] = (
    CUSTOMER,
    INTERACTION,
    COMPLAINT,
    CONTACT_CENTER_INGEST,
    SCORES,
    ALERTS,
)


def all_topics() -> tuple[TopicSpec, ...]:
    """Every topic the product needs, DLQs included, in creation order."""
    dlqs = tuple(topic.dlq for topic in PRODUCT_TOPICS if topic.has_dlq)
    return PRODUCT_TOPICS + dlqs
