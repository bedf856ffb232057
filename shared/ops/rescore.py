"""Make the scorer recompute every score: rewind its consumer group and drop its table.

Why both: the scorer's table (`customer-state`, changelog-backed) holds each customer's
folded feature state and only the ids of their last `SEEN_LIMIT` events. Rewinding the input
offsets alone would redeliver every event to that state: the last 64 per customer would be
skipped as duplicates and every older one folded in a second time. Deleting the changelog
makes the restarted worker begin from an empty table, so the replay folds each event exactly
once, in order — the same computation as a first start with `faust_offset_reset=earliest`.

Only a stopped scorer may be rewound: the group must have no members (checked first, and
enforced again by the broker, which refuses an offset commit from outside a non-empty group).
Some customers are rescored differently, by the running scorer itself: `request_rescore`
sends their ids to the scorer's `<app id>-rescore-requests` topic (keyed and partitioned like
its inputs), and the worker owning each one rescores it as of now from its current state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.ops.lag import group_state
from shared.topics import TopicSpec

__all__ = [
    "RescoreReport",
    "ScorerRunning",
    "changelog_topic",
    "request_rescore",
    "rewind_scorer",
]

_DELETE_WAIT_S = 30.0


class ScorerRunning(Exception):
    """The scorer's consumer group has active members: stop every scorer worker first."""


@dataclass(frozen=True)
class RescoreReport:
    group: str
    partitions: int
    events_to_replay: int
    changelog: str
    changelog_deleted: bool


def changelog_topic(app_id: str, table_name: str) -> str:
    """The changelog topic Faust keeps for a table (`<app id>-<table>-changelog`)."""
    return f"{app_id}-{table_name}-changelog"


async def rewind_scorer(
    bootstrap_servers: str,
    *,
    group: str,
    inputs: Sequence[TopicSpec],
    changelog: str,
) -> RescoreReport:
    """Commit the earliest offsets of `inputs` for `group`, then delete `changelog`.

    Raises ScorerRunning when the group has members. Idempotent: running it again with the
    scorer still stopped gives the same state. Offsets are committed first because the broker
    enforces "no members" on that commit; the changelog is deleted only after it succeeded.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        await admin.start()
        state = await group_state(admin, group)
        if state.members:
            raise ScorerRunning(
                f"consumer group {group} has {state.members} active member(s) "
                f"(state {state.state}): stop every scorer worker first"
            )
        partitions, to_replay = await _commit_earliest(bootstrap_servers, group, inputs)
        deleted = await _delete_topic(admin, changelog)
        return RescoreReport(group, partitions, to_replay, changelog, deleted)
    finally:
        await admin.close()


async def _commit_earliest(
    bootstrap_servers: str, group: str, inputs: Sequence[TopicSpec]
) -> tuple[int, int]:
    # Explicit log-start offsets rather than deleting the group's offsets: a deleted offset
    # would follow the worker's auto.offset.reset, which may be "latest" (then nothing replays).
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    try:
        await consumer.start()
        await consumer._client.force_metadata_update()
        partitions: list[TopicPartition] = []
        for spec in inputs:
            numbers = consumer.partitions_for_topic(spec.name)
            if not numbers:
                raise KafkaError(f"input topic {spec.name} does not exist")
            partitions.extend(TopicPartition(spec.name, n) for n in sorted(numbers))
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        try:
            await consumer.commit(starts)
        except KafkaError as error:
            # A worker joined between the check and the commit: the broker refused the commit.
            raise ScorerRunning(
                f"the broker refused to move {group}'s offsets ({type(error).__name__}): "
                "a scorer worker joined the group meanwhile; stop it and run this again"
            ) from error
        return len(partitions), sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()


async def _delete_topic(admin: AIOKafkaAdminClient, name: str) -> bool:
    """Delete `name` and wait until the broker no longer lists it; False if it was absent."""
    if name not in await admin.list_topics():
        return False
    await admin.delete_topics([name])
    # Deletion is asynchronous; a worker started meanwhile could still find the old changelog.
    deadline = time.monotonic() + _DELETE_WAIT_S
    while name in await admin.list_topics():
        if time.monotonic() > deadline:
            raise KafkaError(f"{name} was still listed {_DELETE_WAIT_S:.0f} s after its deletion")
        await asyncio.sleep(0.2)
    return True


class NoSuchTopic(Exception):
    """The scorer's request topic does not exist yet (the scorer creates it on its first start)."""


async def request_rescore(
    bootstrap_servers: str, *, topic: str, customer_ids: Sequence[str]
) -> int:
    """Ask the running scorer to rescore `customer_ids` now; how many requests were sent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            raise NoSuchTopic(f"{topic} does not exist: start the scorer once, it creates it")
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(topic, b"", key=c.encode()) for c in dict.fromkeys(customer_ids)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return len(sent)
