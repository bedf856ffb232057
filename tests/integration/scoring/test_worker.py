"""The scorer worker on the real broker and FerretDB: an order in, a score in Mongo and on
`crm.scores.v1`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from services.scoring.outputs import HISTORY, SCORES, score_of
from services.scoring.read_models import latest
from services.scoring.tables import TABLE_NAME
from services.scoring.topics import rescore_requests_topic
from shared import topics
from shared.events import Event, KafkaRecord, decode, new_event, utc_now
from shared.events.customer import CustomerErased, CustomerMerged, CustomerProfile
from shared.events.interaction import OrderPlaced
from shared.events.vocabulary import CustomerKind
from shared.mongo import MongoClient
from shared.ops.rescore import request_rescore
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from tests.conftest import unique
from tests.integration.messaging_support import TopicTail

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def partitions_of(connection: ConnectionSettings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=connection.kafka_bootstrap_servers)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def worker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scoring-worker")


@pytest.fixture(scope="module")
def worker_log(worker_dir: Path) -> Path:
    return worker_dir / "worker.log"


def order_event(customer: str, amount: str, at: datetime) -> Event[OrderPlaced]:
    """An order of `customer` for `amount`, placed at `at` (a fresh order id)."""
    return new_event(
        OrderPlaced(order_id=unique("order"), amount=Decimal(amount)),
        subject=customer,
        source="/tests/scoring",
        time=at,
    )


def read_log(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


@contextmanager
def run_worker(
    connection: ConnectionSettings,
    *,
    app_id: str,
    partitions: int,
    directory: Path,
    log_path: Path,
    database_prefix: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m services.scoring.worker` as a subprocess, ready; stopped gracefully after
    (unless the test killed it)."""
    env = {
        **os.environ,
        "CRM_KAFKA_BOOTSTRAP_SERVERS": connection.kafka_bootstrap_servers,
        "CRM_MONGO_URL": connection.mongo_url,
        "CRM_MONGO_DATABASE_PREFIX": database_prefix,
        "CRM_TOPIC_PARTITIONS": str(partitions),
        "CRM_FAUST_APP_ID": app_id,
        "CRM_FAUST_WEB_PORT": str(free_port()),
        "CRM_FAUST_DATA_DIR": str(directory / "data"),
        # The shared topics hold other tests' history: start at the end, not by replaying it.
        "CRM_FAUST_OFFSET_RESET": "latest",
        "CRM_SWEEP_INTERVAL_S": "1",
    } | (extra_env or {})
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.scoring.worker", "worker", "-l", "info"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_ready(process, log_path, timeout=90)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def delete_changelogs(connection: ConnectionSettings, app_id: str) -> None:
    """Faust declared the table's changelog topic; remove it with the test's app id."""
    admin = AIOKafkaAdminClient(bootstrap_servers=connection.kafka_bootstrap_servers)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(app_id + "-")]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def app_id() -> str:
    return unique("scoring-it")


@pytest.fixture(scope="module")
async def worker(
    connection: ConnectionSettings,
    input_partitions: int,
    worker_dir: Path,
    worker_log: Path,
    app_id: str,
) -> AsyncIterator[subprocess.Popen[bytes]]:
    with run_worker(
        connection,
        app_id=app_id,
        partitions=input_partitions,
        directory=worker_dir,
        log_path=worker_log,
        database_prefix=connection.mongo_database_prefix,
    ) as process:
        yield process
    await delete_changelogs(connection, app_id)


def wait_for_ready(process: subprocess.Popen[bytes], log: Path, *, timeout: float) -> None:
    """Faust logs "Ready" once the agents have their partitions (offset reset is "latest",
    so anything produced before that would be skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Ready" in read_log(log):
            return
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{read_log(log)}")
        time.sleep(0.25)
    pytest.fail("the worker was not ready in time:\n" + read_log(log))


@pytest.fixture
def scores_db(mongo_client: MongoClient, connection: ConnectionSettings) -> Iterator[str]:
    yield connection.mongo_database_prefix + "crm_scoring"


async def test_an_order_yields_a_score_in_mongo_and_on_the_scores_topic(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
    worker_log: Path,
) -> None:
    customer = unique("cust")
    tail = TopicTail(connection, topics.SCORES.name)
    await tail.mark()
    now = utc_now()
    order = order_event(customer, "2500", now - timedelta(seconds=1))
    await producer.publish([order])
    sent = time.monotonic()

    collection = mongo_client[scores_db][SCORES]
    document = None
    while document is None and time.monotonic() - sent < 30:
        document = await latest(collection.database, customer)
        if document is None:
            await asyncio.sleep(0.1)
    assert document is not None, read_log(worker_log)
    assert document["model_version"]
    assert 0 <= document["churn"]["risk"] <= 1
    latency = time.monotonic() - sent
    assert document["features"]["orders"] == 1
    assert document["features"]["monetary"] > 0
    assert document["as_of"] == order.time.replace(
        microsecond=order.time.microsecond // 1000 * 1000
    )
    assert latency < 5, f"event → score in Mongo took {latency:.2f} s"
    assert await mongo_client[scores_db][HISTORY].count_documents({"customer_id": customer}) == 1

    records = await tail.read(
        lambda got: len(got) >= 1, keep=lambda record: record.key == customer.encode()
    )
    published = decode(
        records[0].value, records[0].headers, now=utc_now(), max_future_skew=timedelta(minutes=5)
    )
    assert published.subject == customer
    assert published.data.churn.risk == document["churn"]["risk"]


async def test_an_erased_customer_is_forgotten_everywhere(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
    worker_log: Path,
) -> None:
    customer = unique("cust")
    order = order_event(customer, "800", utc_now() - timedelta(days=2))
    await producer.publish([order])
    await wait_for_document(mongo_client, scores_db, customer)
    tail = TopicTail(connection, topics.SCORES.name)
    await tail.mark()
    erased = new_event(
        CustomerErased(reason="PIPL deletion request"),
        subject=customer,
        source="/tests/scoring",
        time=utc_now(),
    )
    await producer.publish([erased])
    records = await tail.read(
        lambda got: any(r.value is None for r in got),
        keep=lambda record: record.key == customer.encode(),
    )
    assert records[-1].value is None, read_log(worker_log)  # the tombstone
    assert await mongo_client[scores_db][SCORES].find_one({"_id": customer}) is None
    history = mongo_client[scores_db][HISTORY]
    assert await history.count_documents({"customer_id": customer}) == 0


def orders_in(record: Any) -> Any:
    """The order count a published score was computed from."""
    score = decode(
        record.value, record.headers, now=utc_now(), max_future_skew=timedelta(minutes=5)
    )
    return score.data.features.get("orders")


async def test_a_merged_customer_is_folded_into_the_survivor(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
    worker_log: Path,
) -> None:
    survivor, duplicate = unique("cust"), unique("cust")
    orders = [
        order_event(customer, amount, utc_now() - timedelta(days=days))
        for customer, amount, days in (
            (survivor, "800", 120),
            (duplicate, "300", 40),
            (duplicate, "300", 10),
        )
    ]
    await producer.publish(orders)
    await wait_for_document(mongo_client, scores_db, duplicate)
    alone = await wait_for_document(mongo_client, scores_db, survivor)
    assert alone["features"]["orders"] == 1
    tail = TopicTail(connection, topics.SCORES.name)
    await tail.mark()
    merged = new_event(
        CustomerMerged(
            merged_ids=(duplicate,),
            profile=CustomerProfile(kind=CustomerKind.ORGANISATION, name="广州立白日化"),
        ),
        subject=survivor,
        source="/tests/scoring",
        time=utc_now(),
    )
    await producer.publish([merged])
    # Whichever workers own the two customers, the survivor's score ends up counting the
    # duplicate's orders, and the duplicate is tombstoned.
    records = await tail.read(
        lambda got: (
            any(r.key == duplicate.encode() and r.value is None for r in got)
            and any(
                r.key == survivor.encode() and r.value is not None and orders_in(r) == 3
                for r in got
            )
        ),
        keep=lambda record: record.key in (survivor.encode(), duplicate.encode()),
    )
    assert records, read_log(worker_log)
    document = await latest(mongo_client[scores_db], survivor)
    assert document is not None and document["features"]["orders"] == 3
    assert document["churn"]["risk"] < alone["churn"]["risk"]
    assert await mongo_client[scores_db][SCORES].find_one({"_id": duplicate}) is None


async def test_an_operator_can_have_some_customers_rescored_now(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
    app_id: str,
    worker_log: Path,
) -> None:
    customer = unique("cust")
    # Recent enough that the review timer (every second here) has nothing due for it.
    ordered_at = utc_now() - timedelta(minutes=10)
    order = order_event(customer, "600", ordered_at)
    await producer.publish([order])
    before = await wait_for_document(mongo_client, scores_db, customer)
    assert before["as_of"] < utc_now() - timedelta(minutes=9)
    sent = await request_rescore(
        connection.kafka_bootstrap_servers,
        topic=rescore_requests_topic(app_id),
        customer_ids=[customer],
    )
    assert sent == 1
    collection = mongo_client[scores_db][SCORES]
    deadline = time.monotonic() + 30
    document = before
    while document["as_of"] < before["as_of"] + timedelta(minutes=9):
        assert time.monotonic() < deadline, read_log(worker_log)
        await asyncio.sleep(0.2)
        document = await latest(collection.database, customer) or document
    assert document["features"]["orders"] == 1  # same state, scored as of now


async def wait_for_document(
    mongo_client: MongoClient, db: str, customer: str, *, timeout: float = 30
) -> dict[str, Any]:
    collection = mongo_client[db][SCORES]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = await latest(collection.database, customer)
        if document is not None:
            return document
        await asyncio.sleep(0.1)
    pytest.fail(f"no score for {customer}")


async def test_a_customers_state_is_in_the_changelog_partition_of_its_events(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
    app_id: str,
    input_partitions: int,
) -> None:
    """The worker that takes a partition over after a rebalance recovers that partition of the
    changelog: every customer's state must be there, in its events' partition."""
    customers = [unique("cust") for _ in range(12)]
    await producer.publish(
        [order_event(customer, "300", utc_now() - timedelta(minutes=1)) for customer in customers]
    )
    for customer in customers:
        await wait_for_document(mongo_client, scores_db, customer)
    # The input topics' partitioner: murmur2 of the key bytes (the customer id).
    partitioner = DefaultPartitioner()
    expected = {
        customer.encode(): partitioner(customer.encode(), list(range(input_partitions)), [])
        for customer in customers
    }
    changelog = f"{app_id}-{TABLE_NAME}-changelog"
    found: dict[bytes, set[int]] = {}
    consumer = AIOKafkaConsumer(
        changelog,
        bootstrap_servers=connection.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while set(found) != set(expected) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key in expected:
                        found.setdefault(record.key, set()).add(record.partition)
    finally:
        await consumer.stop()
    assert found == {key: {partition} for key, partition in expected.items()}


async def test_a_duplicate_is_not_counted_twice_and_poison_goes_to_the_dlq(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
) -> None:
    customer = unique("cust")
    dlq = TopicTail(connection, topics.INTERACTION.dlq.name)
    await dlq.mark()
    poison = KafkaRecord(
        topic=topics.INTERACTION.name, key=customer.encode(), value=b"{not json", headers=()
    )
    first = order_event(customer, "100", utc_now() - timedelta(days=2))
    second = order_event(customer, "300", utc_now() - timedelta(days=1))
    # Same key, so one partition and this order: poison, first, first again, second.
    await producer.publish_records([poison])
    await producer.publish([first, first, second])

    dead = await dlq.read(
        lambda got: len(got) >= 1, keep=lambda record: record.key == customer.encode()
    )
    headers = dict(dead[0].headers)
    assert dead[0].value == b"{not json"
    assert headers["dlq_error_class"] == b"undecodable"
    assert headers["dlq_origin_topic"] == topics.INTERACTION.name.encode()
    assert headers["dlq_error"] == b"PoisonMessage"
    assert headers["dlq_consumer_group"].startswith(b"scoring-it-")

    collection = mongo_client[scores_db][SCORES]
    deadline = time.monotonic() + 30
    document = await wait_for_document(mongo_client, scores_db, customer)
    while document["features"]["orders"] < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        document = await latest(collection.database, customer) or document
    assert document["features"]["orders"] == 2
    # Events of one batch make one score: the history holds one or two, never one per copy.
    # (Scores as of a later time are the review timer's: the orders are days old, so their
    # score is due for review at once, and a review may have run meanwhile.)
    history = mongo_client[scores_db][HISTORY]
    orders = [
        score_of(doc)["features"]["orders"]
        async for doc in history.find({"customer_id": customer})
        if doc["as_of"] <= second.time
    ]
    assert sorted(orders) in ([2], [1, 2])
    assert worker.poll() is None


async def test_duplicates_are_not_counted_across_a_restart(
    connection: ConnectionSettings,
    input_partitions: int,
    producer: EventProducer,
    mongo_client: MongoClient,
    tmp_path: Path,
) -> None:
    """The dedupe window lives in the changelog-backed table, so it survives a restart."""
    app_id = unique("scoring-restart")
    prefix = connection.mongo_database_prefix + "r_"
    db = prefix + "crm_scoring"
    customer = unique("cust")
    log = tmp_path / "worker.log"
    zeroth = order_event(customer, "50", utc_now() - timedelta(days=3))
    first = order_event(customer, "100", utc_now() - timedelta(days=2))
    second = order_event(customer, "300", utc_now() - timedelta(days=1))
    options: dict[str, Any] = {
        "app_id": app_id,
        "partitions": input_partitions,
        "directory": tmp_path,
        "log_path": log,
        "database_prefix": prefix,
        # Only events move the score's as_of here, so reaching `second` means it was counted
        # (a review would rescore as of now, past it, whether or not the events were read).
        "extra_env": {"CRM_SWEEP_INTERVAL_S": "3600"},
    }
    try:
        with run_worker(connection, **options):
            await producer.publish([zeroth, first])
            document = await wait_for_document(mongo_client, db, customer)
            collection = mongo_client[db][SCORES]
            deadline = time.monotonic() + 30
            while document["features"]["orders"] < 2:
                assert time.monotonic() < deadline, read_log(log)
                await asyncio.sleep(0.1)
                document = await latest(collection.database, customer) or document
        # Only a recovered table explains 3 below (zeroth comes back from the changelog) and
        # only a recovered dedupe window explains not 4 (first is redelivered).
        with run_worker(connection, **options):
            await producer.publish([first, second])
            deadline = time.monotonic() + 30
            while document["as_of"] < second.time.replace(microsecond=0):
                assert time.monotonic() < deadline, read_log(log)
                await asyncio.sleep(0.1)
                document = await latest(collection.database, customer) or document
        assert document["features"]["orders"] == 3, read_log(log)
        history = mongo_client[db][HISTORY]
        orders = [
            score_of(doc)["features"]["orders"]
            async for doc in history.find({"customer_id": customer})
        ]
        assert max(orders) == 3
        assert len(orders) == len(set(orders))  # no score stored twice for one state
    finally:
        await delete_changelogs(connection, app_id)


async def test_a_silent_customer_drifts_to_critical_with_no_new_event_and_is_alerted_once(
    worker: subprocess.Popen[bytes],
    producer: EventProducer,
    mongo_client: MongoClient,
    connection: ConnectionSettings,
    scores_db: str,
    worker_log: Path,
) -> None:
    """Orders every 10 days, then 180 days of silence: each order scores low churn risk at its
    own event time; only the review timer, at the current time, sees the silence."""
    customer = unique("cust")
    alerts = TopicTail(connection, topics.ALERTS.name)
    await alerts.mark()
    now = utc_now()
    orders = [order_event(customer, "1000", now - timedelta(days=days)) for days in (200, 190, 180)]
    await producer.publish(orders)

    collection = mongo_client[scores_db][SCORES]
    document = await wait_for_document(mongo_client, scores_db, customer)
    deadline = time.monotonic() + 30
    while not (document["features"]["orders"] == 3 and document["as_of"] >= now):
        assert time.monotonic() < deadline, read_log(worker_log)
        await asyncio.sleep(0.2)
        document = await latest(collection.database, customer) or document
    assert document["churn"]["band"] == "critical"
    assert document["churn"]["reasons"][0]["code"] == "silent_beyond_rhythm"

    records = await alerts.read(
        lambda got: len(got) >= 1, keep=lambda record: record.key == customer.encode()
    )
    alert = decode(
        records[0].value, records[0].headers, now=utc_now(), max_future_skew=timedelta(minutes=5)
    )
    assert alert.type == "crm.alert.churn_raised.v1"
    assert alert.data.to_band == "critical"
    await asyncio.sleep(3)  # three more review rounds: the customer is not due again
    assert await collection.count_documents({"_id": customer}) == 1
    history = mongo_client[scores_db][HISTORY]
    assert await history.count_documents({"customer_id": customer, "as_of": {"$gte": now}}) == 1
