"""Consumer lag per group and partition: committed offset, end offset, and the difference.

Committed offsets come from the group coordinator (admin `list_consumer_group_offsets`), end
offsets from a group-less consumer; partitions of topics deleted since the commit are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["GroupLag", "PartitionLag", "consumer_lag", "group_state", "list_groups"]

# (groups done, groups in all)
GroupProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass
class GroupLag:
    group: str
    state: str
    members: int
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


@dataclass(frozen=True)
class GroupState:
    """A consumer group as its coordinator describes it."""

    state: str
    members: int


async def list_groups(admin: AIOKafkaAdminClient) -> list[str]:
    """Every consumer group the brokers know, sorted by name."""
    return sorted({str(entry[0]) for entry in await admin.list_consumer_groups()})


async def group_state(admin: AIOKafkaAdminClient, group: str) -> GroupState:
    """State (Empty, Stable, PreparingRebalance, Dead, …) and member count of `group`."""
    response = (await admin.describe_consumer_groups([group]))[0].to_object()
    described = response["groups"][0]
    return GroupState(state=str(described["state"]), members=len(described["members"]))


async def consumer_lag(
    bootstrap_servers: str,
    groups: Sequence[str] = (),
    *,
    progress: GroupProgress | None = None,
) -> list[GroupLag]:
    """Lag of `groups` (every group the brokers know when empty), in the order asked."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        # Started inside the try: a failed start still closes whichever client did start.
        await admin.start()
        await consumer.start()
        names = list(groups) or await list_groups(admin)
        await consumer._client.force_metadata_update()
        result: list[GroupLag] = []
        for done, group in enumerate(names):
            if progress is not None:
                progress(done, len(names))
            state = await group_state(admin, group)
            committed = {
                tp: meta.offset
                for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
                # -1: nothing committed for the partition; a deleted topic has no end offset.
                if meta.offset >= 0
                and tp.partition in (consumer.partitions_for_topic(tp.topic) or ())
            }
            ends: dict[TopicPartition, int] = (
                await consumer.end_offsets(list(committed)) if committed else {}
            )
            result.append(
                GroupLag(
                    group=group,
                    state=state.state,
                    members=state.members,
                    partitions=[
                        PartitionLag(tp.topic, tp.partition, offset, ends[tp])
                        for tp, offset in sorted(
                            committed.items(), key=lambda item: (item[0].topic, item[0].partition)
                        )
                    ],
                )
            )
        if progress is not None:
            progress(len(names), len(names))
        return result
    finally:
        await consumer.stop()
        await admin.close()
