"""Garbage on every topic the product consumes: each consumer dead-letters it and keeps going.

One table row per consumed topic, naming every consumer of it: the customer service's 360
read model, the interaction service's ingest and customer-reference consumers, the complaint
service's merge/erasure consumer (all in-process, on the real broker), and the scorer (its
Faust worker as a real process). Each row publishes, under one customer key (so one
partition, in this order), random bytes, invalid JSON, JSON of the wrong type, JSON of the
wrong shape, a CloudEvent of a type nobody knows, a valid value without any CloudEvent
headers, and then one valid event. Every consumer must put the six bad messages on the
topic's DLQ with the reason and origin in headers, and then handle the valid one.
(tests/integration/test_consumer.py proves the toolkit itself, on a topic of its own.)
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI

from services.complaint.app import create_app as complaint_app
from services.complaint.settings import Settings as ComplaintSettings
from services.customer.app import create_app as customer_app
from services.customer.settings import Settings as CustomerSettings
from services.interaction.app import create_app as interaction_app
from services.interaction.settings import Settings as InteractionSettings
from services.scoring.outputs import SCORES as SCORE_DOCUMENTS
from services.scoring.topics import INPUT_SPECS
from shared.consumer import EventConsumer
from shared.events import EventData, KafkaRecord, encode, new_event
from shared.events.complaint import ComplaintOpened
from shared.events.customer import CustomerErased
from shared.events.interaction import InteractionRecorded, OrderPlaced
from shared.events.vocabulary import Channel, ComplaintCategory, Direction, Severity
from shared.mongo import Collection, MongoClient
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import COMPLAINT, CONTACT_CENTER_INGEST, CUSTOMER, INTERACTION, SCORES, TopicSpec
from tests.conftest import own_databases, unique
from tests.integration.customer.test_360_view import score_event
from tests.integration.messaging_support import TopicTail, group_at_end, header
from tests.integration.scoring.test_worker import delete_changelogs, partitions_of, run_worker

pytestmark = pytest.mark.stack

# What each bad message is, and the error class its dead letter must carry.
POISON = (
    ("random bytes", "undecodable"),
    ("invalid JSON", "schema_invalid"),
    ("JSON of the wrong type", "schema_invalid"),
    ("JSON of the wrong shape", "schema_invalid"),
    ("unknown event type", "unknown_type"),
    ("no CloudEvent headers", "undecodable"),
)


def poison(topic: TopicSpec, valid: KafkaRecord) -> list[KafkaRecord]:
    """The bad messages of `POISON`, in its order, keyed like `valid`."""
    headers = tuple(valid.headers)
    unknown = tuple((k, b"crm.nothing.happened.v1" if k == "ce_type" else v) for k, v in headers)
    # Every field of the valid data, each given a value of a type no field accepts.
    wrong_shape = {name: {"wrong": ["type"]} for name in json.loads(valid.value)}
    values: list[tuple[bytes, tuple[tuple[str, bytes], ...]]] = [
        (random.Random(topic.name).randbytes(64), ()),
        (b'{"order_id": "SO-', headers),
        (b"[1, 2, 3]", headers),
        (json.dumps(wrong_shape).encode(), headers),
        (valid.value, unknown),
        (valid.value, ()),
    ]
    return [KafkaRecord(topic.name, valid.key, value, h) for value, h in values]


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def opened() -> ComplaintOpened:
    return ComplaintOpened(
        complaint_id=unique("cmp"),
        category=ComplaintCategory.PRODUCT_QUALITY,
        severity=Severity.HIGH,
        title="Leaking valves",
        resolution_due=ago(-48 * 60),
    )


def contact() -> InteractionRecorded:
    return InteractionRecorded(
        interaction_id=unique("call"),
        channel=Channel.WECHAT,
        direction=Direction.INBOUND,
        subject="Asks for a quote on printed tinplate",
        source_system="cc-avaya",
    )


# The valid event each topic gets after its poison: one every consumer of the topic handles.
VALID: dict[str, Callable[[], EventData]] = {
    SCORES.name: lambda: score_event(ago(0), risk=0.4),
    INTERACTION.name: lambda: OrderPlaced(order_id=unique("SO"), amount=Decimal("100")),
    COMPLAINT.name: opened,
    CUSTOMER.name: lambda: CustomerErased(reason="poison test"),
    CONTACT_CENTER_INGEST.name: contact,
}

ROWS = {
    SCORES.name: (SCORES, ("customer-360",)),
    INTERACTION.name: (INTERACTION, ("customer-360", "scorer")),
    COMPLAINT.name: (COMPLAINT, ("customer-360", "scorer")),
    CUSTOMER.name: (
        CUSTOMER,
        ("customer-360", "interaction-customers", "complaint-customers", "scorer"),
    ),
    CONTACT_CENTER_INGEST.name: (CONTACT_CENTER_INGEST, ("interaction-ingest",)),
}


@dataclass
class Scorer:
    """The Faust worker as a process, and where it writes its scores."""

    process: subprocess.Popen[bytes]
    group_id: str
    scores: Collection  # the worker's `customer_scores`
    log: Path


@pytest.fixture(scope="module")
async def scorer(
    connection: ConnectionSettings,
    mongo_client: MongoClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Scorer]:
    # Started before the in-process consumers: the wait for it blocks this event loop.
    app_id = unique("scoring-poison")
    directory = tmp_path_factory.mktemp("scoring-poison")
    prefix = own_databases(connection, "poison").mongo_database_prefix
    with run_worker(
        connection,
        app_id=app_id,
        partitions=await partitions_of(connection, INTERACTION.name),
        directory=directory,
        log_path=directory / "worker.log",
        database_prefix=prefix,
    ) as process:
        yield Scorer(
            process, app_id, mongo_client[prefix + "crm_scoring"][SCORE_DOCUMENTS], directory
        )
    await delete_changelogs(connection, app_id)


@pytest.fixture(scope="module")
async def consumers(
    connection: ConnectionSettings, scorer: Scorer
) -> AsyncIterator[dict[str, EventConsumer]]:
    """Every service consumer, running in its app, each in a new group at the topics' ends."""
    own = own_databases(connection, "poison")
    apps: list[FastAPI] = [
        customer_app(
            CustomerSettings(
                **own.model_dump(),
                audit_move_interval_s=0,
                view360_enabled=True,
                view360_group_id=await group_at_end(
                    connection, SCORES, INTERACTION, COMPLAINT, CUSTOMER
                ),
            )
        ),
        interaction_app(
            InteractionSettings(
                **own.model_dump(),
                ingest_group_id=await group_at_end(connection, CONTACT_CENTER_INGEST),
                customers_group_id=await group_at_end(connection, CUSTOMER),
            )
        ),
        complaint_app(
            ComplaintSettings(
                **own.model_dump(),
                sla_check_interval_s=0,
                merge_erase_group_id=await group_at_end(connection, CUSTOMER),
            )
        ),
    ]
    async with (
        apps[0].router.lifespan_context(apps[0]),
        apps[1].router.lifespan_context(apps[1]),
        apps[2].router.lifespan_context(apps[2]),
    ):
        running = {
            "customer-360": apps[0].state.view360,
            "interaction-ingest": apps[1].state.ingest,
            "interaction-customers": apps[1].state.customer_refs,
            "complaint-customers": apps[2].state.customers,
        }
        deadline = time.monotonic() + 60
        for name, consumer in running.items():
            while not consumer.assigned:
                assert time.monotonic() < deadline, f"{name} got no partitions"
                await asyncio.sleep(0.1)
        yield running


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id="test-poison")
    await events.start()
    yield events
    await events.stop()


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 60
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_the_table_names_every_consumer_of_every_topic(
    consumers: dict[str, EventConsumer],
) -> None:
    # A consumer or topic added later without a row here fails this test.
    consumed = {(name, topic.name) for name, c in consumers.items() for topic in c.topics}
    consumed |= {("scorer", topic.name) for topic in INPUT_SPECS}
    rows = {(name, topic.name) for topic, readers in ROWS.values() for name in readers}
    assert rows == consumed


@pytest.mark.parametrize("topic_name", list(ROWS))
async def test_garbage_goes_to_the_dlq_and_every_consumer_carries_on(
    topic_name: str,
    consumers: dict[str, EventConsumer],
    scorer: Scorer,
    producer: EventProducer,
    connection: ConnectionSettings,
) -> None:
    topic, readers = ROWS[topic_name]
    customer = unique("cust")
    groups = {
        name: scorer.group_id if name == "scorer" else consumers[name].group_id for name in readers
    }
    if topic is CUSTOMER and "scorer" in readers:
        # An erasure makes the scorer drop the customer's score: give it one to drop.
        await producer.publish([new_event(VALID[INTERACTION.name](), **envelope(customer))])
        await eventually(
            lambda: has_score(scorer, customer), f"no score for {customer}:\n{log(scorer)}"
        )
    valid_event = new_event(VALID[topic.name](), **envelope(customer))
    valid = on(topic, encode(valid_event))
    bad = poison(topic, valid)
    dlq = TopicTail(connection, topic.dlq.name)
    await dlq.mark()

    await producer.publish_records([*bad, valid])

    letters = await dlq.read(
        lambda got: all(len(of_group(got, g)) >= len(bad) for g in groups.values()),
        keep=lambda record: record.key == customer.encode(),
        timeout=60,
    )
    for name, group in groups.items():
        mine = of_group(letters, group)
        classes = [header(letter, "dlq_error_class") for letter in mine]
        assert classes == [expected for _, expected in POISON], f"{name}: {classes}"
        for letter, original in zip(mine, bad, strict=True):
            assert letter.value == original.value, name
            assert header(letter, "dlq_reason"), name
            assert header(letter, "dlq_origin_topic") == topic.name, name
            assert header(letter, "dlq_origin_offset") is not None, name
    partition = int(header(letters[0], "dlq_origin_partition") or -1)

    for name in readers:
        if name == "scorer":
            await eventually(
                lambda: scored(scorer, topic, customer),
                f"the scorer did not handle the valid {topic.name} event:\n{log(scorer)}",
            )
            assert scorer.process.poll() is None, "the scorer died"
            continue
        consumer = consumers[name]

        async def handled(consumer: EventConsumer = consumer) -> bool:
            return consumer.processed.seen(topic.name, partition, valid_event.id)

        await eventually(handled, f"{name} did not handle the valid event after the poison")
        assert consumer.assigned, f"{name} stopped consuming"


def envelope(customer: str) -> dict[str, Any]:
    return {"subject": customer, "source": "/tests/poison", "time": ago(1)}


def on(topic: TopicSpec, record: KafkaRecord) -> KafkaRecord:
    return KafkaRecord(topic.name, record.key, record.value, record.headers)


def of_group(letters: list[ConsumerRecord], group: str) -> list[ConsumerRecord]:
    return [letter for letter in letters if header(letter, "dlq_consumer_group") == group]


async def has_score(scorer: Scorer, customer: str) -> bool:
    return await scorer.scores.find_one({"_id": customer}) is not None


async def scored(scorer: Scorer, topic: TopicSpec, customer: str) -> bool:
    """Whether the scorer's stored score shows the valid event of `topic`."""
    document = await scorer.scores.find_one({"_id": customer})
    if topic is CUSTOMER:
        return document is None  # erased
    return document is not None


def log(scorer: Scorer) -> str:
    path = scorer.log / "worker.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""
