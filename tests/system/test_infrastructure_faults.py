"""The broker and the database stopped for real while orders and contacts stream in over HTTP.

The four services and the scorer run as real processes on a private stack (tests/system/
conftest.py), so killing its Kafka broker or its FerretDB disturbs no other test. Both tests
end the same way: every write the services accepted is on crm.interaction.v1, and every
customer's stored score equals a clean, single pass over the events on the topics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.scoring.outputs import SCORES, score_of
from shared import topics
from shared.demo.processes import SERVICES, ServiceRunner
from shared.events import Event, decode, utc_now
from shared.events.interaction import OrderPlaced
from shared.mongo import MongoClient, connect
from shared.settings import ConnectionSettings
from shared.stack import Stack
from shared.stack.processes import tail
from tests.conftest import bearer, unique
from tests.integration.messaging_support import wait_until_assigned
from tests.system.conftest import free_port
from tests.system.test_scorer_faults import clean_pass, differences

CUSTOMERS = 12
WRITERS = 3
REQUEST_TIMEOUT_S = 10.0  # an answer slower than this counts as a hang
SCORER_GROUP = "crm-scoring"  # the scorer's default app id: the private stack is its own

# What each run measured (outage length, answers, duplicates): shown with -o log_cli=true.
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Running:
    """The services on the private stack: their URLs, and how to read their logs."""

    stack: Stack
    runner: ServiceRunner
    urls: dict[str, str]

    @property
    def connection(self) -> ConnectionSettings:
        s = self.stack.settings
        return ConnectionSettings(
            kafka_bootstrap_servers=s.bootstrap_servers,
            mongo_url=s.mongo_url,
            topic_partitions=s.topic_partitions,
        )

    def logs(self) -> str:
        """The end of every process's log, for a failure message."""
        parts = [
            f"--- {service.name} ---\n{tail(self.runner.process(service).log_file, 30)}"
            for service in self.runner.services
        ]
        parts.append(f"--- kafka ---\n{self.stack.kafka.log_tail(10)}")
        parts.append(f"--- ferretdb ---\n{self.stack.ferretdb.log_tail(10)}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def running(private_stack: Stack) -> Iterator[Running]:
    services = [dataclasses.replace(s, port=free_port()) for s in SERVICES]
    runner = ServiceRunner(
        private_stack.settings,
        services=services,
        extra_env={
            "CRM_VIEW360_ENABLED": "false",
            "CRM_INGEST_ENABLED": "false",
            "CRM_SWEEP_INTERVAL_S": "3600",  # only events move the scores here
        },
    )
    try:
        runner.up()
        system = Running(private_stack, runner, {s.name: s.url for s in services})
        # Start streaming once the scorer owns its partitions; it reads from the earliest
        # offset (the private topics hold only these tests' events), so nothing is skipped.
        asyncio.run(wait_until_assigned(system.connection, SCORER_GROUP))
        yield system
    finally:
        runner.down()


@pytest.fixture
async def mongo(running: Running) -> AsyncIterator[MongoClient]:
    client = connect(running.connection)
    yield client
    await client.close()


@dataclasses.dataclass
class Stream:
    """Orders and contacts posted by a few concurrent writers until told to stop.

    `accepted` maps each accepted write's event id to its customer; `refused` holds the
    writes answered otherwise (status 0: no answer in time), `slowest_s` the longest wait.
    """

    running: Running
    customers: list[str]
    run: str = dataclasses.field(default_factory=lambda: unique("w"))
    accepted: dict[str, str] = dataclasses.field(default_factory=dict)
    refused: list[tuple[str, dict[str, Any], int, str]] = dataclasses.field(default_factory=list)
    slowest_s: float = 0.0
    stopping: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    numbers: Iterator[int] = dataclasses.field(default_factory=itertools.count)

    def write(self, n: int) -> tuple[str, dict[str, Any]]:
        """The n-th write: an order or a phone call of one of the customers."""
        customer = self.customers[n // 2 % len(self.customers)]
        if n % 2 == 0:
            return "/v1/orders", {
                "customer_id": customer,
                "order_id": f"{self.run}-o{n}",
                "amount": str(500 + (n * 37) % 9000),
            }
        return "/v1/interactions", {
            "customer_id": customer,
            "channel": "phone",
            "direction": "inbound",
            "duration_s": 60 + n % 600,
            "source_system": "system-test",
            "external_id": f"{self.run}-i{n}",
        }

    async def post(self, http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> int:
        """Post one write; record it as accepted or refused; its status (0: no answer)."""
        url = self.running.urls["interaction"] + path
        started = time.monotonic()
        try:
            answer = await http.post(url, json=body)
        except httpx.TimeoutException:
            self.refused.append((path, body, 0, f"no answer within {REQUEST_TIMEOUT_S} s"))
            return 0
        finally:
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        if answer.status_code in (200, 201):
            self.accepted[answer.json()["event_id"]] = body["customer_id"]
        else:
            self.refused.append((path, body, answer.status_code, answer.text))
        return answer.status_code

    async def writer(self) -> None:
        async with client() as http:
            while not self.stopping.is_set():
                await self.post(http, *self.write(next(self.numbers)))

    async def until_stopped(self) -> None:
        await asyncio.gather(*(self.writer() for _ in range(WRITERS)))

    async def accepted_after(self, count: int, timeout: float = 60) -> None:
        """Until `count` more writes than now were accepted."""
        target = len(self.accepted) + count
        deadline = time.monotonic() + timeout
        while len(self.accepted) < target:
            assert time.monotonic() < deadline, (
                f"{len(self.accepted)}/{target} writes accepted; refused: {self.refused[:3]}\n"
                + self.running.logs()
            )
            await asyncio.sleep(0.1)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, headers=bearer())


async def create_customers(running: Running, count: int) -> list[str]:
    ids = []
    async with client() as http:
        for n in range(count):
            created = await http.post(
                f"{running.urls['customer']}/v1/customers",
                json={"kind": "organisation", "name": f"客户{n}", "name_latin": f"Customer {n}"},
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
    return ids


async def events_on_topics(running: Running, customers: set[str]) -> list[Event[Any]]:
    """Every event about `customers` on the customer and interaction topics, as stored."""
    settings = running.stack.settings
    partitions = [
        TopicPartition(spec.name, p)
        for spec in (topics.CUSTOMER, topics.INTERACTION)
        for p in range(settings.topic_partitions)
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    events: list[Event[Any]] = []
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                events.extend(
                    decode(
                        record.value,
                        record.headers,
                        now=utc_now(),
                        max_future_skew=timedelta(minutes=5),
                    )
                    for record in batch
                    if record.key is not None and record.key.decode() in customers
                )
    finally:
        await consumer.stop()
    return events


async def wait_for_events(
    running: Running, stream: Stream, timeout: float = 60
) -> list[Event[Any]]:
    """The topics' events once every accepted write's event is there (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        events = await events_on_topics(running, set(stream.customers))
        missing = set(stream.accepted) - {event.id for event in events}
        if not missing:
            return events
        assert time.monotonic() < deadline, (
            f"{len(missing)} of {len(stream.accepted)} accepted events never reached Kafka\n"
            + running.logs()
        )
        await asyncio.sleep(1)


def published_twice(events: list[Event[Any]]) -> int:
    return sum(1 for n in Counter(event.id for event in events).values() if n > 1)


async def wait_for_clean_scores(
    running: Running, mongo: MongoClient, events: list[Event[Any]], timeout: float = 60
) -> None:
    """Until every customer's stored score equals a clean pass over `events` (deduplicated,
    in event time): the scorer counted each event once, however often it was delivered."""
    unique_events = sorted({event.id: event for event in events}.values(), key=lambda e: e.time)
    orders = Counter(e.subject for e in unique_events if isinstance(e.data, OrderPlaced))
    expected = {
        customer: (risk, loyalty, orders[customer])
        for customer, (risk, loyalty, _) in clean_pass(unique_events).items()
    }
    scores = mongo[running.connection.mongo_database_prefix + "crm_scoring"][SCORES]
    deadline = time.monotonic() + timeout
    while True:
        stored = {
            doc["_id"]: score_of(doc) async for doc in scores.find({"_id": {"$in": list(expected)}})
        }
        wrong = differences(stored, expected)
        if len(stored) == len(expected) and not wrong:
            return
        assert time.monotonic() < deadline, (
            f"{len(stored)}/{len(expected)} customers scored, {len(wrong)} differ from a clean "
            f"pass (stored, expected): {[(wrong[c], expected[c]) for c in wrong]}\n"
            + running.logs()
        )
        await asyncio.sleep(1)


@pytest.mark.hang_limit(600)
async def test_writes_are_accepted_while_the_broker_is_down_and_arrive_after_it_returns(
    running: Running, mongo: MongoClient
) -> None:
    stream = Stream(running, await create_customers(running, CUSTOMERS))
    writing = asyncio.ensure_future(stream.until_stopped())
    try:
        await stream.accepted_after(200)
        running.stack.kafka.process.kill()  # SIGKILL: no goodbye to clients or the log
        await stream.accepted_after(200)  # the relays cannot publish any of these
        accepted_while_down = len(stream.accepted)
        await asyncio.to_thread(running.stack.up)  # same data dir: topics and offsets survive
        await stream.accepted_after(200)
    finally:
        stream.stopping.set()
        await writing
    assert stream.refused == [], f"{len(stream.refused)} writes refused: {stream.refused[:3]}"
    assert stream.slowest_s < REQUEST_TIMEOUT_S
    log.info(
        f"{len(stream.accepted)} writes accepted, {accepted_while_down} by the time the broker "
        f"was restarted; slowest answer {stream.slowest_s:.2f} s"
    )

    events = await wait_for_events(running, stream)
    assert {event.id for event in events} >= set(stream.accepted)
    # At least once on the topic: an event the broker stored but could not acknowledge before
    # it died is published again. The scores must count it once all the same.
    log.info(f"{published_twice(events)} events published more than once")
    await wait_for_clean_scores(running, mongo, events)


# One request per service that needs its own database to answer.
def database_requests(customer: str) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    return {
        "customer": (
            "POST",
            "/v1/customers",
            {"kind": "organisation", "name": "宝洁", "name_latin": "P&G"},
        ),
        "interaction": (
            "POST",
            "/v1/orders",
            {"customer_id": customer, "order_id": unique("SO"), "amount": "1000"},
        ),
        "complaint": (
            "POST",
            "/v1/complaints",
            {
                "customer_id": customer,
                "category": "delivery",
                "severity": "low",
                "title": "晚到",
            },
        ),
        "scoring": ("GET", f"/v1/scores/{customer}", None),
    }


def is_database_unavailable(status: int, body: str) -> bool:
    return status == 503 and "database is unavailable" in body


async def answers_while_the_database_is_down(running: Running, customer: str) -> None:
    """Every service answers a request needing its database with a clear 503, in time, and
    reports itself not ready."""
    async with client() as http:
        for service, (method, path, body) in database_requests(customer).items():
            started = time.monotonic()
            answer = await http.request(method, running.urls[service] + path, json=body)
            took = time.monotonic() - started
            assert is_database_unavailable(answer.status_code, answer.text), (
                f"{service}: {answer.status_code} {answer.text}"
            )
            assert answer.headers["Retry-After"]
            log.info(f"{service}: 503 after {took:.2f} s")
        for service in running.urls:
            ready = await http.get(running.urls[service] + "/readyz")
            assert ready.status_code == 503, f"{service}: {ready.status_code} {ready.text}"
            assert ready.json()["checks"]["mongo"] is False, f"{service}: {ready.text}"


async def wait_until_drained(running: Running, mongo: MongoClient, stream: Stream) -> int:
    """Until every accepted write's document has an empty outbox; how many documents there are
    (one per accepted write: none lost, none written twice)."""
    activities = mongo[running.connection.mongo_database_prefix + "crm_interaction"]["activities"]
    query = {"customer_id": {"$in": stream.customers}}
    async with asyncio.timeout(60):
        while True:
            docs = [doc async for doc in activities.find(query, {"outbox_pending": 1})]
            if all(doc.get("outbox_pending", 0) == 0 for doc in docs):
                return len(docs)
            await asyncio.sleep(1)


@pytest.mark.hang_limit(600)
async def test_the_services_answer_503_while_the_database_is_down_and_converge_after(
    running: Running, mongo: MongoClient
) -> None:
    stream = Stream(running, await create_customers(running, CUSTOMERS))
    writing = asyncio.ensure_future(stream.until_stopped())
    try:
        await stream.accepted_after(200)
        running.stack.ferretdb.process.kill()  # SIGKILL, in the middle of writes and relays
        await answers_while_the_database_is_down(running, stream.customers[0])
        await asyncio.to_thread(running.stack.up)
        await stream.accepted_after(200)
    finally:
        stream.stopping.set()
        await writing
    unclear = [r for r in stream.refused if not is_database_unavailable(r[2], r[3])]
    assert unclear == [], f"{len(unclear)} writes not answered by a clear 503: {unclear[:3]}"
    assert stream.slowest_s < REQUEST_TIMEOUT_S

    # A 503 promises nothing about the write (the database may have stored it before the
    # connection broke): the client retries, which records it now or finds it recorded.
    refused, stream.refused = stream.refused, []
    async with client() as http:
        retried = Counter([await stream.post(http, path, body) for path, body, _, _ in refused])
    assert stream.refused == [], stream.refused[:3]
    log.info(
        f"{len(stream.accepted)} writes accepted, {len(refused)} refused with 503 and retried "
        f"({retried[200]} had been stored); slowest answer {stream.slowest_s:.2f} s"
    )

    assert await wait_until_drained(running, mongo, stream) == len(stream.accepted)
    events = await wait_for_events(running, stream)
    log.info(f"{published_twice(events)} events published more than once")
    await wait_for_clean_scores(running, mongo, events)
