"""The scorer killed with SIGKILL three times during a stream of 20,000 events: every final
score equals the one a clean, single pass over the same events gives — nothing lost, nothing
counted twice. The worker is a real process on the real broker; it recovers its table from the
changelog after each kill and is redelivered what it had not committed.

The large variant, on demand (`python -m bench kills`): `CRM_KILL_TEST_EVENTS=100000
CRM_KILL_TEST_CUSTOMERS=2000 CRM_KILL_TEST_KILLS=5`."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from services.scoring.adapter import to_input
from services.scoring.outputs import SCORES, score_of
from services.scoring.processing import apply_all, has_seen, record_from_bytes, rescore
from services.scoring.tables import TABLE_NAME
from services.scoring.topics import INPUT_SPECS
from shared import topics
from shared.events import Event, new_event, utc_now
from shared.events.interaction import OrderPlaced
from shared.mongo import MongoClient
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from tests.conftest import own_databases, unique
from tests.integration.messaging_support import wait_until_assigned
from tests.integration.scoring.test_worker import (
    delete_changelogs,
    partitions_of,
    read_log,
    run_worker,
)

EVENTS = int(os.environ.get("CRM_KILL_TEST_EVENTS", "20000"))
CUSTOMERS = int(os.environ.get("CRM_KILL_TEST_CUSTOMERS", "400"))
KILLS = int(os.environ.get("CRM_KILL_TEST_KILLS", "3"))
SCALE = max(1.0, EVENTS / 20_000)  # time budgets grow with the stream
EVENT_SPACING = timedelta(milliseconds=150)


def stream_of_orders() -> list[Event[Any]]:
    """A live stream: orders up to a minute ago, 150 ms of event time apart, a customer's in
    time order."""
    start = utc_now() - EVENT_SPACING * EVENTS - timedelta(minutes=1)
    run = unique("f")
    return [
        new_event(
            OrderPlaced(order_id=f"{run}-{n}", amount=Decimal(500 + (n * 37) % 9000)),
            subject=f"{run}-c{n % CUSTOMERS:04d}",
            source="/tests/faults",
            time=start + EVENT_SPACING * n,
        )
        for n in range(EVENTS)
    ]


async def start_group_at_the_end(connection: ConnectionSettings, group: str) -> None:
    """Commit the input topics' end offsets for the scorer's group before it first runs: a
    worker killed before its first commit must resume there, not at "latest" (which would skip
    what was produced meanwhile — the test stack's topics hold every earlier test's events, so
    "earliest" is no option)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=connection.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(spec.name, p)
            for spec in INPUT_SPECS
            for p in consumer.partitions_for_topic(spec.name) or ()
        ]
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


def clean_pass(events: list[Event[Any]]) -> dict[str, tuple[float, float, int]]:
    """Each customer's final churn risk, loyalty and order count from one pass in order."""
    by_customer: dict[str, list[Event[Any]]] = defaultdict(list)
    for event in events:
        by_customer[event.subject].append(event)
    expected = {}
    for customer, own in by_customer.items():
        folded, _ = apply_all(None, [(e.id, to_input(e)) for e in own])
        assert folded is not None
        score = rescore(
            folded.record, customer_id=customer, as_of=own[-1].time, computed_at=utc_now()
        ).score
        expected[customer] = (score.churn.risk, score.loyalty.score, len(own))
    return expected


async def produce(producer: EventProducer, events: list[Event[Any]]) -> None:
    for first in range(0, len(events), 500):
        await producer.publish(events[first : first + 500])
        await asyncio.sleep(0.15)  # about 3,000 events/s: the stream outlives the kills


async def changelog_records(
    connection: ConnectionSettings, app_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Each customer's records in the scorer's table changelog, oldest first (the last one is
    the state a worker recovers)."""
    changelog = f"{app_id}-{TABLE_NAME}-changelog"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=connection.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(changelog, p) for p in consumer.partitions_for_topic(changelog) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                for record in batch:
                    records[record.key.decode()].append(record_from_bytes(record.value or b"{}"))
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


async def explain_shortfall(
    connection: ConnectionSettings,
    app_id: str,
    partitions: int,
    events: list[Event[Any]],
    stored: dict[str, dict[str, Any]],
) -> str:
    """Where a short customer's orders went missing: from the table's changelog (the state a
    worker recovers; the events not in its dedupe window are listed, with their partition and
    their place in the stream) or only from the stored score. Printed when a fault test fails."""
    changelog = await changelog_records(connection, app_id)
    own: dict[str, list[tuple[int, Event[Any]]]] = defaultdict(list)
    for index, event in enumerate(events):
        own[event.subject].append((index, event))
    partitioner = DefaultPartitioner()
    lines = []
    for customer, indexed in own.items():
        doc = stored.get(customer)
        counted = doc["features"]["orders"] if doc else 0
        if counted >= len(indexed):
            continue
        own_records = changelog.get(customer) or [{}]
        missing = [(i, e) for i, e in indexed if not has_seen(own_records[-1], e.id)]
        overwritten = [i for i, e in missing if any(has_seen(r, e.id) for r in own_records)]
        partition = partitioner(customer.encode(), list(range(partitions)), [])
        lines.append(
            f"{customer} (partition {partition}): stored {counted}/{len(indexed)}; "
            f"changelog state lacks events #{[index for index, _ in missing]}"
            f" (of which an earlier changelog record had #{overwritten})"
        )
    return f"{len(lines)} customers short:\n" + "\n".join(lines[:40])


async def wait_until_complete(
    scores: Any,
    expected: dict[str, tuple[float, float, int]],
    logs: list[Path],
    explain: Callable[[dict[str, dict[str, Any]]], Awaitable[str]],
) -> dict[str, dict[str, Any]]:
    """The stored scores once every customer's has counted all its orders (4 min at most for
    the CI-sized stream)."""
    deadline = time.monotonic() + 240 * SCALE
    while True:
        stored = {doc["_id"]: score_of(doc) async for doc in scores.find({})}
        done = [
            c
            for c, (_, _, n) in expected.items()
            if c in stored and stored[c]["features"]["orders"] >= n
        ]
        if len(done) == len(expected):
            return stored
        counted = sum(doc["features"]["orders"] for doc in stored.values())
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{len(done)}/{len(expected)} customers complete, {len(stored)} scored, "
                f"{counted}/{sum(n for _, _, n in expected.values())} orders counted\n"
                + await explain(stored)
                + "\n"
                + "\n".join(read_log(log) for log in logs)
            )
        await asyncio.sleep(1)


def differences(
    stored: dict[str, dict[str, Any]], expected: dict[str, tuple[float, float, int]]
) -> dict[str, tuple[float, float, int]]:
    """The customers whose stored (risk, loyalty, orders) differ from the clean pass (others'
    scores, from events another test put on the shared input topic meanwhile, are not ours)."""
    return {
        customer: (doc["churn"]["risk"], doc["loyalty"]["score"], doc["features"]["orders"])
        for customer, doc in stored.items()
        if customer in expected
        and (doc["churn"]["risk"], doc["loyalty"]["score"], doc["features"]["orders"])
        != pytest.approx(expected[customer])
    }


def worker_options(
    own: ConnectionSettings, app_id: str, partitions: int, directory: Path
) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "partitions": partitions,
        "directory": directory,
        "database_prefix": own.mongo_database_prefix,
        "extra_env": {
            "CRM_SWEEP_INTERVAL_S": "3600",  # only events move the scores here
            # A killed worker's partitions move on after this (60 s by default).
            "CRM_FAUST_SESSION_TIMEOUT_S": "8",
        },
    }


@pytest.mark.hang_limit(int(600 * SCALE))
async def test_three_kills_during_a_stream_lose_nothing_and_count_nothing_twice(
    connection: ConnectionSettings, mongo_client: MongoClient, tmp_path: Path
) -> None:
    own = own_databases(connection, unique("faults").replace("-", "_"))
    app_id = unique("scoring-faults")
    partitions = await partitions_of(connection, topics.INTERACTION.name)
    events = stream_of_orders()
    producer = EventProducer(connection, client_id=unique("faults-producer"))
    await producer.start()
    options = worker_options(own, app_id, partitions, tmp_path)
    expected = clean_pass(events)
    kills = 0
    await start_group_at_the_end(connection, app_id)
    try:
        for run in range(KILLS + 1):
            log = tmp_path / f"worker-{run}.log"
            with run_worker(connection, log_path=log, **options) as worker:
                if run == 0:
                    streaming = asyncio.ensure_future(produce(producer, events))
                if run < KILLS:
                    await asyncio.sleep(2.5)
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    kills += 1
                    continue
                await streaming
                scores = mongo_client[own.mongo_database_prefix + "crm_scoring"][SCORES]
                stored = await wait_until_complete(
                    scores,
                    expected,
                    [log],
                    partial(explain_shortfall, connection, app_id, partitions, events),
                )
        assert kills == KILLS
        wrong = differences(stored, expected)
        assert wrong == {}, f"{len(wrong)} customers differ from a clean pass"
    finally:
        await producer.stop()
        await delete_changelogs(connection, app_id)


@pytest.mark.hang_limit(600)
async def test_the_other_worker_takes_over_when_one_of_two_is_killed(
    connection: ConnectionSettings, mongo_client: MongoClient, tmp_path: Path
) -> None:
    """Two workers in one group share the partitions; one is killed mid-stream, the other is
    given its partitions (rebalance), rebuilds their table entries from the changelog and
    finishes the stream: scores equal a clean pass."""
    own = own_databases(connection, unique("scaleout").replace("-", "_"))
    app_id = unique("scoring-scaleout")
    partitions = await partitions_of(connection, topics.INTERACTION.name)
    events = stream_of_orders()
    producer = EventProducer(connection, client_id=unique("scaleout-producer"))
    await producer.start()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    expected = clean_pass(events)
    await start_group_at_the_end(connection, app_id)
    try:
        homes = [tmp_path / "first", tmp_path / "second"]
        for home in homes:
            home.mkdir()
        first_options = worker_options(own, app_id, partitions, homes[0])
        second_options = worker_options(own, app_id, partitions, homes[1])
        with (
            run_worker(connection, log_path=logs[0], **first_options) as first,
            run_worker(connection, log_path=logs[1], **second_options),
        ):
            await wait_until_assigned(connection, app_id, members=2)
            streaming = asyncio.ensure_future(produce(producer, events))
            await asyncio.sleep(3)
            first.send_signal(signal.SIGKILL)
            first.wait()
            # The group notices the dead member after its session timeout and gives all
            # partitions to the other one.
            await wait_until_assigned(connection, app_id, members=1, exactly=True)
            await streaming
            scores = mongo_client[own.mongo_database_prefix + "crm_scoring"][SCORES]
            stored = await wait_until_complete(
                scores,
                expected,
                logs,
                partial(explain_shortfall, connection, app_id, partitions, events),
            )
        wrong = differences(stored, expected)
        assert wrong == {}, f"{len(wrong)} customers differ from a clean pass"
    finally:
        await producer.stop()
        await delete_changelogs(connection, app_id)
