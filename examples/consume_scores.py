"""Keep a table of every customer's latest score from `crm.scores.v1`; print `crm.alerts.v1`.

A standalone example for downstream teams (BI, marketing automation, a contact-center screen
pop). It needs Python 3.11+ and `aiokafka` (>= 0.13) only, and deliberately does not import the
customer-signals code: it decodes the CloudEvents records the way the scorer writes them, as
described in docs/consuming-scores.md.

    python examples/consume_scores.py --bootstrap-servers 127.0.0.1:9092 \\
        --group-id bi-scores-table --from-beginning

What it shows:
- a record's key is the customer id; a record without a value (a tombstone) means the customer
  was forgotten (erased, or merged into another customer) and must be dropped from the table;
- binary-mode CloudEvents (attributes in `ce_*` headers, the data as the JSON value) and
  structured mode (the whole envelope as the JSON value) are both read;
- delivery is at least once: an event can arrive twice, with the same `id`. The score table is
  idempotent anyway (the last record per customer wins); alerts are deduplicated by `id`;
- offsets are committed only after a batch has been applied (at least once, never lost).

The table lives in memory, so run it with `--from-beginning` to rebuild it on every start; a
consumer that keeps the table in its own database would commit offsets the same way and resume
where it stopped instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

SCORE_UPDATED = "crm.score.updated.v1"
CHURN_ALERT = "crm.alert.churn_raised.v1"
LOYALTY_DROPPED = "crm.alert.loyalty_dropped.v1"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"

# How many alert ids to remember for deduplication. Redeliveries come soon after the original
# (a producer retry, a consumer restarting from its last commit), so a bounded window is enough.
SEEN_ALERTS_LIMIT = 100_000


class NotACloudEvent(ValueError):
    """The record is neither a binary-mode nor a structured-mode CloudEvent."""


@dataclass(frozen=True)
class CloudEvent:
    """The CloudEvents attributes this example uses, and the event's data."""

    id: str
    type: str
    subject: str
    time: str
    data: dict[str, Any]


def decode(value: bytes, headers: Sequence[tuple[str, bytes]]) -> CloudEvent:
    """A CloudEvent from a Kafka record's value and headers.

    Binary mode (what the scorer writes): a `ce_specversion` header, every attribute in a
    `ce_<name>` header, the data alone as the JSON value. Structured mode: no `ce_*` headers,
    `content-type: application/cloudevents+json` (or none), the whole envelope as the value.
    """
    header_map = {name: raw.decode("utf-8") for name, raw in headers}
    try:
        body = json.loads(value)
    except ValueError as error:
        raise NotACloudEvent(f"the value is not JSON ({error})") from None
    if "ce_specversion" in header_map:
        attributes: dict[str, Any] = {
            name.removeprefix("ce_"): text
            for name, text in header_map.items()
            if name.startswith("ce_")
        }
        data = body
    else:
        content_type = header_map.get("content-type", "")
        if content_type and not content_type.startswith(STRUCTURED_CONTENT_TYPE):
            raise NotACloudEvent(f"no ce_* headers and content-type {content_type!r}")
        if not isinstance(body, dict) or "specversion" not in body:
            raise NotACloudEvent("the JSON value is not a CloudEvent (no `specversion`)")
        attributes = body
        data = body.get("data")
    if not isinstance(data, dict):
        raise NotACloudEvent("the event has no JSON object as its data")
    try:
        return CloudEvent(
            id=str(attributes["id"]),
            type=str(attributes["type"]),
            subject=str(attributes["subject"]),
            time=str(attributes["time"]),
            data=data,
        )
    except KeyError as missing:
        raise NotACloudEvent(f"the CloudEvents attribute {missing} is missing") from None


@dataclass
class ScoreTable:
    """The latest score per customer, as the compacted topic would keep it.

    The last record of a key, in offset order, is the customer's current score: that is what
    log compaction keeps, so a table built live and one rebuilt from the beginning agree.
    """

    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen_alerts: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def apply_score(self, customer_id: str, value: bytes | None, headers: Any) -> None:
        if value is None:
            # Tombstone: the customer was erased or merged away. Forget everything about them.
            if self.scores.pop(customer_id, None) is not None:
                print(f"forgotten {customer_id}")
            return
        event = decode(value, headers)
        if event.type != SCORE_UPDATED:
            return  # a newer type this consumer does not know yet: skip it, don't fail
        data = event.data
        # Check the fields this table shows before storing, so one bad record is skipped
        # here instead of breaking the table later. Unknown extra fields are fine: a v1 event
        # only ever gains optional fields.
        for part, names in (("churn", ("risk", "band")), ("loyalty", ("score", "band"))):
            if not isinstance(data.get(part), dict) or any(n not in data[part] for n in names):
                raise NotACloudEvent(f"{SCORE_UPDATED} without {part}.{'/'.join(names)}")
        for name in ("value_tier", "lifecycle", "as_of"):
            if name not in data:
                raise NotACloudEvent(f"{SCORE_UPDATED} without {name}")
        if not all(
            isinstance(data[p][n], int | float)
            for p, n in (("churn", "risk"), ("loyalty", "score"))
        ):
            raise NotACloudEvent(f"{SCORE_UPDATED} with a churn risk or loyalty that is no number")
        self.scores[customer_id] = data

    def apply_alert(self, value: bytes | None, headers: Any) -> None:
        if value is None:
            return  # the alerts topic has no tombstones, but be tolerant
        event = decode(value, headers)
        if event.id in self.seen_alerts:
            return  # the same alert delivered again: notify once
        self.seen_alerts[event.id] = None
        if len(self.seen_alerts) > SEEN_ALERTS_LIMIT:
            self.seen_alerts.popitem(last=False)
        data = event.data
        if event.type == CHURN_ALERT:
            reasons = "; ".join(reason["text"] for reason in data.get("reasons", []))
            print(
                f"alert {event.subject} churn {data['from_band']} -> {data['to_band']} "
                f"(risk {data['risk']:.2f}) at {event.time}: {reasons or 'no reason given'}"
            )
        elif event.type == LOYALTY_DROPPED:
            print(
                f"alert {event.subject} loyalty {data['from_score']} -> {data['to_score']} "
                f"at {event.time}"
            )

    def print_table(self) -> None:
        print(f"latest scores: {len(self.scores)} customers")
        columns = (
            "customer_id churn_risk churn_band loyalty loyalty_band value_tier lifecycle as_of"
        )
        print("\t".join(columns.split()))
        for customer_id in sorted(self.scores):
            score = self.scores[customer_id]
            row = [
                customer_id,
                f"{score['churn']['risk']:.4f}",
                score["churn"]["band"],
                f"{score['loyalty']['score']:.1f}",
                score["loyalty"]["band"],
                score["value_tier"],
                score["lifecycle"],
                score["as_of"],
            ]
            print("\t".join(row))


class RewindOnAssignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """With `--from-beginning`, start every assigned partition at its first record.

    A group's committed offsets would otherwise win over `auto_offset_reset`. Rewinding on every
    assignment (also after a rebalance) is right for a table that lives in memory.
    """

    def __init__(self, consumer: AIOKafkaConsumer, *, rewind: bool) -> None:
        self.consumer = consumer
        self.rewind = rewind
        self.assigned = asyncio.Event()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.rewind and assigned:
            await self.consumer.seek_to_beginning(*assigned)
        self.assigned.set()


async def consume(args: argparse.Namespace) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap_servers,
        group_id=args.group_id,
        client_id=args.group_id,
        # A new group with no committed offsets starts at the beginning, not at the end:
        # a table needs every customer.
        auto_offset_reset="earliest",
        # Commit after applying a batch, never before (at least once).
        enable_auto_commit=False,
    )
    listener = RewindOnAssignment(consumer, rewind=args.from_beginning)
    consumer.subscribe([args.scores_topic, args.alerts_topic], listener=listener)
    table = ScoreTable()
    received = 0
    try:
        await consumer.start()
        idle_since: float | None = None
        while args.max_messages is None or received < args.max_messages:
            batches = await consumer.getmany(timeout_ms=500)
            if not any(batches.values()):
                # Idle time counts from the first assignment: joining the group takes a while.
                if listener.assigned.is_set() and args.idle_exit is not None:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= args.idle_exit:
                        break
                continue
            idle_since = None
            for tp, records in batches.items():
                for record in records:
                    received += 1
                    try:
                        if record.key is None:
                            raise NotACloudEvent("the record has no key (customer id)")
                        if tp.topic == args.scores_topic:
                            table.apply_score(record.key.decode(), record.value, record.headers)
                        else:
                            table.apply_alert(record.value, record.headers)
                    except (NotACloudEvent, KeyError, TypeError, UnicodeDecodeError) as error:
                        # A bad record must not stop the table: report it and go on.
                        print(
                            f"skipped {tp.topic}/{tp.partition}@{record.offset}: {error}",
                            file=sys.stderr,
                        )
            await consumer.commit()
    finally:
        await consumer.stop()
        # Also on Ctrl-C: show what was built so far.
        table.print_table()
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Latest score per customer from crm.scores.v1, alerts from crm.alerts.v1."
    )
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--group-id", required=True, help="your team's consumer group")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="read both topics from their first record (rebuilds the whole table)",
    )
    parser.add_argument("--scores-topic", default="crm.scores.v1")
    parser.add_argument("--alerts-topic", default="crm.alerts.v1")
    parser.add_argument(
        "--max-messages", type=int, default=None, help="stop after this many records"
    )
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop when no record arrived for this long (after joining the group)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(consume(parse_args())))
    except KeyboardInterrupt:
        sys.exit(130)  # the table was printed on the way out
