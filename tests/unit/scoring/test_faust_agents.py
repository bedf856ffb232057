"""The Faust wiring, without a broker: `agent.test_context()` over a memory-store table."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from faust.types import TP

from services.scoring.agents import (
    EMIT_SLICE,
    REVIEW_SLICE,
    Absorption,
    Message,
    Retirement,
    normalise_headers,
)
from services.scoring.outputs import RecordingOutputs
from services.scoring.processing import rescore, state_of
from services.scoring.settings import Settings
from services.scoring.worker import Worker, build
from shared.events import encode, new_event
from shared.events.customer import CustomerErased, CustomerMerged, CustomerProfile
from shared.events.interaction import InteractionRecorded, OrderPlaced
from shared.events.vocabulary import Channel, CustomerKind, Direction
from shared.keyed_locks import KeyedLocks

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def outputs() -> RecordingOutputs:
    return RecordingOutputs()


def built_worker(outputs: RecordingOutputs, clock: Clock) -> Worker:
    settings = Settings(
        faust_app_id=f"scoring-test-{uuid.uuid4().hex[:8]}", faust_store="memory://"
    )
    built = build(settings, outputs=outputs, clock=clock)
    built.app.finalize()
    built.app.flow_control.resume()
    # The table's changelog partition comes from the Kafka producer's partitioner, which only
    # exists once connected; without a broker every key goes to partition 0.
    built.app.producer.key_partition = lambda topic, key: TP(topic, 0)  # type: ignore[method-assign]
    return built


@pytest.fixture
def worker(outputs: RecordingOutputs, clock: Clock) -> Iterator[Worker]:
    yield built_worker(outputs, clock)


def order(customer: str, at: datetime, amount: str = "1000", event_id: str | None = None) -> Any:
    data = OrderPlaced(order_id=uuid.uuid4().hex, amount=Decimal(amount))
    return encode(new_event(data, subject=customer, source="/test", time=at, event_id=event_id))


async def put(agent: Any, record: Any) -> None:
    await agent.put(record.value, key=record.key, headers=list(record.headers))


def message(record: Any, topic: str = "crm.interaction.v1") -> Message:
    return Message(topic, 0, 0, record.key, record.value, tuple(record.headers))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def scored(outputs: RecordingOutputs, count: int) -> None:
    await until(lambda: len(outputs.emitted) >= count)


async def test_orders_move_loyalty_up_and_churn_down(
    worker: Worker, outputs: RecordingOutputs
) -> None:
    async with worker.agents.interaction.test_context() as agent:
        await put(agent, order("c-1", NOW - timedelta(days=60)))
        await scored(outputs, 1)
        for days in (45, 30, 15):
            await put(agent, order("c-1", NOW - timedelta(days=days)))
        await until(lambda: state_of(worker.table.get("c-1")).orders == 4)
        first = outputs.emitted[0][1].score
        last = outputs.emitted[-1][1].score
    assert {customer for customer, _ in outputs.emitted} == {"c-1"}
    assert last.loyalty.score > first.loyalty.score
    assert last.churn.risk < first.churn.risk
    record = worker.table["c-1"]
    assert state_of(record).orders == 4
    assert len(record["seen"]) == 4 * 11  # four event tokens
    assert record["next_review_at"] > NOW.timestamp() - 15 * 86400


async def test_a_duplicate_is_not_counted_twice(worker: Worker, outputs: RecordingOutputs) -> None:
    record = order("c-2", NOW - timedelta(days=3), event_id="evt-dup")
    async with worker.agents.interaction.test_context() as agent:
        await put(agent, record)
        await put(agent, record)
    assert len(outputs.emitted) == 1
    assert state_of(worker.table["c-2"]).orders == 1


async def test_an_interaction_is_folded_into_the_same_customer(
    worker: Worker, outputs: RecordingOutputs
) -> None:
    contact = InteractionRecorded(
        interaction_id="i-1", channel=Channel.WECHAT, direction=Direction.INBOUND
    )
    record = encode(new_event(contact, subject="c-3", source="/t", time=NOW - timedelta(days=1)))
    async with worker.agents.interaction.test_context() as agent:
        await put(agent, order("c-3", NOW - timedelta(days=2)))
        await put(agent, record)
    assert state_of(worker.table["c-3"]).orders == 1
    assert state_of(worker.table["c-3"]).last_contact_at is not None
    assert state_of(outputs.emitted[-1][1].record).last_contact_at is not None


async def test_live_events_of_a_batch_make_one_score_per_customer(
    worker: Worker, outputs: RecordingOutputs
) -> None:
    batch = [order("c-6", NOW - timedelta(minutes=m)) for m in (30, 20, 10)] + [
        order("c-7", NOW - timedelta(minutes=5))
    ]
    await worker.scorer.handle_batch([message(record) for record in batch])
    assert sorted(customer for customer, _ in outputs.emitted) == ["c-6", "c-7"]
    c6 = dict(outputs.emitted)["c-6"]
    assert state_of(c6.record).orders == 3
    assert c6.score.as_of == NOW - timedelta(minutes=10)  # as of its last event
    assert state_of(worker.table["c-6"]).orders == 3


class SlowOutputs(RecordingOutputs):
    """Outputs that take a while, like the database and the broker; what went out, and how."""

    def __init__(self) -> None:
        super().__init__()
        self.slices: list[list[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def emit(self, scores: Sequence[Any]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.slices.append([customer for customer, _ in scores])
        await super().emit(scores)
        self.in_flight -= 1


async def test_a_big_batch_goes_out_in_slices_one_after_another_before_the_table(
    clock: Clock,
) -> None:
    outputs = SlowOutputs()
    worker = built_worker(outputs, clock)
    customers = [f"c-{n:03d}" for n in range(EMIT_SLICE * 2 + 100)]
    out_when_the_table_is_written: list[int] = []
    guard = worker.scorer.before_table_writes

    async def before_table_writes() -> None:
        out_when_the_table_is_written.append(len(outputs.emitted))
        if guard is not None:
            await guard()

    worker.scorer.before_table_writes = before_table_writes
    batch = [order(customer, NOW - timedelta(minutes=5)) for customer in customers]
    await worker.scorer.handle_batch([message(record) for record in batch])
    assert [len(part) for part in outputs.slices] == [EMIT_SLICE, EMIT_SLICE, 100]
    assert [c for part in outputs.slices for c in part] == customers  # in order, each once
    assert outputs.most_in_flight == 1
    assert out_when_the_table_is_written == [len(customers)]
    assert all(state_of(worker.table[customer]).orders == 1 for customer in customers)


async def test_rescoring_many_customers_goes_a_slice_at_a_time(clock: Clock) -> None:
    outputs = SlowOutputs()
    worker = built_worker(outputs, clock)
    customers = [f"c-{n:04d}" for n in range(REVIEW_SLICE * 2 + 200)]
    batch = [order(customer, NOW - timedelta(minutes=5)) for customer in customers]
    await worker.scorer.handle_batch([message(record) for record in batch])
    outputs.slices.clear()
    clock.now = NOW + timedelta(days=1)
    rescored = await worker.scorer.rescore_now([*customers, customers[0], "nobody"])
    assert rescored == len(customers)
    assert [len(part) for part in outputs.slices] == [REVIEW_SLICE, REVIEW_SLICE, 200]
    assert [c for part in outputs.slices for c in part] == customers


async def test_a_replayed_history_keeps_one_score_per_day(
    worker: Worker, outputs: RecordingOutputs
) -> None:
    days = (30, 20, 20, 10)
    batch = [order("c-9", NOW - timedelta(days=d, hours=n)) for n, d in enumerate(days)]
    await worker.scorer.handle_batch([message(record) for record in batch])
    as_of = [rescored.score.as_of for _, rescored in outputs.emitted]
    # The second day's events arrive out of time order: its score is as of the later one.
    assert as_of == [
        NOW - timedelta(days=30),
        NOW - timedelta(days=20, hours=1),
        NOW - timedelta(days=10, hours=3),
    ]
    assert [state_of(r.record).orders for _, r in outputs.emitted] == [1, 3, 4]


async def test_a_batch_scores_like_one_event_at_a_time(worker: Worker, clock: Clock) -> None:
    events = [order("c-8", NOW - timedelta(minutes=m)) for m in (90, 70, 50, 30, 10)]
    one_by_one = RecordingOutputs()
    worker.scorer.outputs = one_by_one
    for record in events:
        await worker.scorer.handle_batch([message(record)])
    del worker.table["c-8"]
    batched = RecordingOutputs()
    worker.scorer.outputs = batched
    await worker.scorer.handle_batch([message(record) for record in events])
    final, coalesced = one_by_one.emitted[-1][1].score, batched.emitted[-1][1].score
    assert len(batched.emitted) == 1
    assert coalesced.churn.risk == final.churn.risk
    assert coalesced.loyalty.score == final.loyalty.score
    assert coalesced.as_of == final.as_of


@pytest.mark.parametrize(
    ("value", "headers", "error_class"),
    [
        (b"not json", [], "undecodable"),
        (
            b"{}",
            [("ce_specversion", b"1.0"), ("ce_type", b"crm.nothing.known.v1")],
            "unknown_type",
        ),
        (
            b'{"order_id": "o", "amount": "-1"}',
            [
                ("ce_specversion", b"1.0"),
                ("ce_type", b"crm.order.placed.v1"),
                ("ce_id", b"x"),
                ("ce_source", b"/t"),
                ("ce_time", b"2026-11-01T00:00:00Z"),
                ("ce_subject", b"c-4"),
            ],
            "schema_invalid",
        ),
    ],
)
async def test_poison_goes_to_the_dead_letters_and_the_agent_keeps_going(
    worker: Worker,
    outputs: RecordingOutputs,
    value: bytes,
    headers: list[tuple[str, bytes]],
    error_class: str,
) -> None:
    async with worker.agents.interaction.test_context() as agent:
        await agent.put(value, key=b"c-4", headers=headers)
        await put(agent, order("c-4", NOW - timedelta(days=1)))
    assert [d["error_class"] for d in outputs.dead] == [error_class]
    assert outputs.dead[0]["value"] == value
    assert outputs.dead[0]["error"] == "PoisonMessage"
    assert outputs.dead[0]["origin"].topic == "crm.interaction.v1"
    assert len(outputs.emitted) == 1


async def test_a_silent_customer_drifts_towards_churn_on_review(
    worker: Worker, outputs: RecordingOutputs, clock: Clock
) -> None:
    async with worker.agents.interaction.test_context() as agent:
        for days in (40, 30, 20, 10, 1):
            await put(agent, order("c-5", NOW - timedelta(days=days)))
    before = outputs.emitted[-1][1].score
    scores = len(outputs.emitted)
    assert await worker.scorer.review() == 0  # planned (the pencilled-in hour has passed): not due
    assert worker.table["c-5"]["review_planned"] is True
    assert len(outputs.emitted) == scores  # planning publishes nothing
    clock.now = NOW + timedelta(days=60)
    assert await worker.scorer.review() == 1
    assert await worker.scorer.review() == 0  # rescheduled: not due again at the same instant
    after = outputs.emitted[-1][1].score
    assert after.churn.risk > before.churn.risk
    assert after.as_of == clock.now


async def test_keyed_locks_serialise_one_key_and_are_dropped_when_idle() -> None:
    locks = KeyedLocks()
    order_seen: list[str] = []

    async def work(name: str, key: str, pause: float) -> None:
        async with locks.hold(key):
            order_seen.append(f"{name}+")
            await asyncio.sleep(pause)
            order_seen.append(f"{name}-")

    await asyncio.gather(work("a", "k", 0.02), work("b", "k", 0.0), work("c", "other", 0.0))
    assert order_seen.index("a-") < order_seen.index("b+")
    assert len(locks) == 0


def test_headers_from_a_dict_or_pairs_become_byte_pairs() -> None:
    assert normalise_headers({"a": "x", "b": b"y"}) == (("a", b"x"), ("b", b"y"))
    assert normalise_headers([("a", b"x")]) == (("a", b"x"),)
    assert normalise_headers(None) == ()


def customer_event(data: Any, customer: str) -> Any:
    return encode(new_event(data, subject=customer, source="/test", time=NOW))


async def test_an_erasure_asks_the_owner_to_forget_the_customer(
    worker: Worker, outputs: RecordingOutputs
) -> None:
    requested: list[Retirement] = []

    async def record(leaving: Sequence[Retirement]) -> None:
        requested.extend(leaving)

    worker.scorer.request_retirement = record
    await worker.scorer.handle_batch([message(order("c-10", NOW - timedelta(days=3)))])
    erased = customer_event(CustomerErased(reason="PIPL request"), "c-10")
    await worker.scorer.handle_batch([message(erased, "crm.customer.v1")])
    assert requested == [Retirement("c-10")]
    await worker.scorer.retire(requested)
    assert "c-10" not in worker.table
    assert outputs.retired == ["c-10"]


async def test_a_merge_retires_the_absorbed_customers_not_the_survivor(worker: Worker) -> None:
    requested: list[Retirement] = []

    async def record(leaving: Sequence[Retirement]) -> None:
        requested.extend(leaving)

    worker.scorer.request_retirement = record
    profile = CustomerProfile(kind=CustomerKind.ORGANISATION, name="中山凯达精细化工")
    merged = CustomerMerged(merged_ids=("c-11", "c-12"), profile=profile)
    await worker.scorer.handle_batch([message(customer_event(merged, "c-13"), "crm.customer.v1")])
    assert [(r.customer_id, r.into, r.at) for r in requested] == [
        ("c-11", "c-13", NOW),
        ("c-12", "c-13", NOW),
    ]
    # What travels on the retirements topic reads back the same.
    assert [Retirement.from_message(r.customer_id.encode(), r.to_bytes()) for r in requested] == (
        requested
    )


async def test_a_merged_customers_history_is_folded_into_the_survivor_once(
    worker: Worker, outputs: RecordingOutputs
) -> None:
    handed: list[Absorption] = []

    async def hand_over(absorptions: Sequence[Absorption]) -> None:
        handed.extend(
            Absorption.from_message(a.survivor.encode(), a.to_bytes()) for a in absorptions
        )

    worker.scorer.hand_over = hand_over
    duplicate_orders = [order("c-21", NOW - timedelta(days=d), "500") for d in (40, 20)]
    await worker.scorer.handle_batch(
        [message(order("c-20", NOW - timedelta(days=200), "2000")), *map(message, duplicate_orders)]
    )
    alone = worker.table["c-20"]
    merged_at = NOW - timedelta(days=1)
    await worker.scorer.retire([Retirement("c-21", into="c-20", at=merged_at)])
    assert "c-21" not in worker.table
    assert outputs.retired == ["c-21"]
    assert [(a.survivor, a.absorbed_id) for a in handed] == [("c-20", "c-21")]

    emitted = len(outputs.emitted)
    await worker.scorer.absorb(handed)
    survivor = worker.table["c-20"]
    assert state_of(survivor).orders == 3
    assert state_of(survivor).last_order_at == (NOW - timedelta(days=20)).timestamp()
    assert survivor["absorbed"] == ["c-21"]
    assert len(outputs.emitted) == emitted + 1
    customer, rescored = outputs.emitted[-1]
    assert customer == "c-20"
    assert rescored.score.as_of == merged_at
    without_merge = rescore(alone, customer_id="c-20", as_of=merged_at, computed_at=NOW)
    assert rescored.score.churn.risk < without_merge.score.churn.risk  # the duplicate's orders
    assert rescored.updated.id not in {r.updated.id for _, r in outputs.emitted[:-1]}

    # A redelivered merge (a crash before its offsets were committed) changes nothing.
    await worker.scorer.absorb(handed)
    await worker.scorer.retire([Retirement("c-21", into="c-20", at=merged_at)])
    assert worker.table["c-20"] == survivor
    assert len(outputs.emitted) == emitted + 1
    assert len(handed) == 1  # the duplicate's entry is gone, so nothing is handed over again

    # An event counted for the duplicate and redelivered to the survivor is not counted again.
    await worker.scorer.handle_batch([message(duplicate_orders[1])])
    assert state_of(worker.table["c-20"]).orders == 3
