"""Inspect and replay dead-letter topics: `python -m shared.dlq inspect|replay <topic>.dlq`.

Replay re-publishes each dead letter to the topic it came from, with its original key, value
and headers (the `dlq_*` ones removed), after the cause was fixed. A consumer group per DLQ
remembers what was replayed, so running replay twice does not publish anything twice.
The functions here are also what `python -m shared.ops dlq …` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.consumer import DLQ_HEADER_PREFIX
from shared.events import KafkaRecord
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import DLQ_SUFFIX

REPLAY_GROUP_PREFIX = "crm.dlq-replay."

# Called as records are read: (records read so far, records to read in all).
ReadProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    key: str | None
    headers: dict[str, str]

    @property
    def error_class(self) -> str:
        return self.headers.get("dlq_error_class", "")

    @property
    def reason(self) -> str:
        return self.headers.get("dlq_reason", "")

    def summary(self) -> dict[str, object]:
        h = self.headers
        return {
            "partition": self.partition,
            "offset": self.offset,
            "error_class": self.error_class,
            "reason": h.get("dlq_reason"),
            "origin": f"{h.get('dlq_origin_topic')}/{h.get('dlq_origin_partition')}"
            f"/{h.get('dlq_origin_offset')}",
            "consumer_group": h.get("dlq_consumer_group"),
            "failed_at": h.get("dlq_failed_at"),
            "event_type": h.get("ce_type"),
            "event_id": h.get("ce_id"),
        }


def _dead_letter(record: ConsumerRecord) -> DeadLetter:
    headers = {k: bytes(v).decode("utf-8", errors="replace") for k, v in record.headers}
    key = None if record.key is None else bytes(record.key).decode("utf-8", errors="replace")
    return DeadLetter(record.offset, record.partition, key, headers)


async def _read_to_end(
    consumer: AIOKafkaConsumer,
    topic: str,
    *,
    from_committed: bool,
    progress: ReadProgress | None = None,
) -> list[ConsumerRecord]:
    numbers = sorted(consumer.partitions_for_topic(topic) or [])
    partitions = [TopicPartition(topic, p) for p in numbers]
    if not partitions:
        raise SystemExit(f"error: topic {topic} does not exist")
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    if from_committed:
        for tp in partitions:
            committed = await consumer.committed(tp)
            consumer.seek(tp, committed or 0)
    else:
        await consumer.seek_to_beginning(*partitions)
    total = sum([max(0, ends[tp] - await consumer.position(tp)) for tp in partitions])
    records: list[ConsumerRecord] = []
    if progress is not None:
        progress(0, total)

    async def behind() -> bool:
        return any([await consumer.position(tp) < ends[tp] for tp in partitions])

    while await behind():
        for batch in (await consumer.getmany(timeout_ms=1000)).values():
            records.extend(r for r in batch if r.offset < ends[TopicPartition(topic, r.partition)])
        if progress is not None:
            progress(len(records), total)
    return records


async def inspect_dead_letters(
    settings: ConnectionSettings, topic: str, *, progress: ReadProgress | None = None
) -> list[DeadLetter]:
    """Every dead letter currently on `topic`, oldest first per partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        # aiokafka resets a newly assigned partition by this policy in the background; with
        # the default ("latest") that reset could land after seek_to_beginning and win.
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        records = await _read_to_end(consumer, topic, from_committed=False, progress=progress)
        return [_dead_letter(r) for r in records]
    finally:
        await consumer.stop()


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    by_origin: dict[str, int] = field(default_factory=dict)


async def replay_dead_letters(
    settings: ConnectionSettings,
    topic: str,
    *,
    error_class: str | None = None,
    dry_run: bool = False,
    progress: ReadProgress | None = None,
) -> ReplayReport:
    """Re-publish the dead letters not replayed yet (optionally one error class only).

    With `dry_run` the report says what would be replayed; nothing is published or committed.
    """
    if not topic.endswith(DLQ_SUFFIX):
        raise SystemExit(f"error: {topic} is not a dead-letter topic (*{DLQ_SUFFIX})")
    report = ReplayReport()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=REPLAY_GROUP_PREFIX + topic,
        enable_auto_commit=False,
        # Where nothing was replayed yet, or retention removed the committed point, reading
        # starts at the oldest letter still kept (also when a background reset races the seek).
        auto_offset_reset="earliest",
    )
    producer = EventProducer(settings, client_id="crm-dlq-replay")
    await consumer.start()
    if not dry_run:
        await producer.start()
    try:
        await consumer._client.force_metadata_update()
        records = await _read_to_end(consumer, topic, from_committed=True, progress=progress)
        outgoing: list[KafkaRecord] = []
        for record in records:
            letter = _dead_letter(record)
            origin = letter.headers.get("dlq_origin_topic") or topic.removesuffix(DLQ_SUFFIX)
            if error_class is not None and letter.error_class != error_class:
                report.skipped += 1
                continue
            headers = tuple(
                (k, bytes(v)) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)
            )
            outgoing.append(KafkaRecord(origin, record.key or b"", record.value or b"", headers))
            report.by_origin[origin] = report.by_origin.get(origin, 0) + 1
        report.replayed = len(outgoing)
        if dry_run:
            return report
        await producer.publish_records(outgoing)
        # Only after the broker acknowledged every replayed message.
        ends: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(topic, record.partition)
            ends[tp] = max(ends.get(tp, 0), record.offset + 1)
        if ends:
            await consumer.commit(ends)
    finally:
        await producer.stop()  # a no-op when it never started (dry run)
        await consumer.stop()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser("inspect", help="list the dead letters on a DLQ topic")
    inspect.add_argument("topic")
    inspect.add_argument("--limit", type=int, default=50)
    inspect.add_argument("--json", action="store_true", help="one JSON object per line")
    replay = commands.add_parser("replay", help="re-publish dead letters to their origin topic")
    replay.add_argument("topic")
    replay.add_argument("--error-class", help="replay only this class (e.g. handler_error)")
    args = parser.parse_args(argv)
    settings = ConnectionSettings()

    if args.command == "inspect":
        letters = asyncio.run(inspect_dead_letters(settings, args.topic))
        for letter in letters[-args.limit :]:
            summary = letter.summary()
            if args.json:
                print(json.dumps(summary, ensure_ascii=False))
            else:
                print(
                    f"{summary['partition']}/{summary['offset']:<6} {summary['error_class']:<20} "
                    f"{summary['event_type'] or '-':<32} {summary['reason']}"
                )
        print(f"{len(letters)} dead letters on {args.topic}", file=sys.stderr)
    else:
        report = asyncio.run(
            replay_dead_letters(settings, args.topic, error_class=args.error_class)
        )
        print(f"replayed {report.replayed}, skipped {report.skipped}: {report.by_origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
