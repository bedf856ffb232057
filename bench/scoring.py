"""Sustained scorer throughput: the real Faust worker, as a process, on the local stack.

A worker with a fresh consumer group (starting at the end of the topics) and its own Mongo
database prefix is started; `events` order events for `customers` customers are produced to
`crm.interaction.v1` as fast as Kafka takes them; the clock runs until the worker's own
`crm_scorer_events_scored_total` says every one was folded into a stored, published score.
The baseline is a raw aiokafka consumer reading the same records in the same run.

Then `latency`: a fresh worker, order events produced at a fixed rate (`--rate`, default
2,000/s) for a fixed time (`--seconds`, default 60) over `--customers` customers; each event's
clock runs from its hand-over to the producer until a score on `crm.scores.v1` reflects it
(see bench/latency.py). Lost = never reflected before the scores stop coming for 30 s.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import Rate, Row, Timer, connection, drop_databases
from bench.latency import (
    EventClock,
    ScorerWorker,
    ScoreWatcher,
    from_millis,
    scorer_breakdown,
    scorer_metrics,
)
from bench.messaging import raw_produce, sample_event
from shared.demo.processes import SERVICES
from shared.events import encode
from shared.stack.processes import port_open
from shared.topics import INTERACTION

_SCORED = re.compile(r"^crm_scorer_events_scored_total\{[^}]*\} ([0-9.e+]+)$", re.M)


def scored(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as answer:
        text = answer.read().decode()
    return sum(float(value) for value in _SCORED.findall(text))


async def wait_until_assigned(bootstrap: str, group: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(90):
            while True:
                state = (await admin.describe_consumer_groups([group]))[0].to_object()
                group_state = state["groups"][0]
                if group_state["state"] == "Stable" and group_state["members"]:
                    await asyncio.sleep(2)
                    return
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def raw_consume_from(bootstrap: str, topic: str, start: dict[int, int], count: int) -> Rate:
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen = 0
    try:
        partitions = [TopicPartition(topic, p) for p in start]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start[tp.partition])
        with Timer() as timer:
            while seen < count:
                batches = await consumer.getmany(timeout_ms=500)
                seen += sum(len(records) for records in batches.values())
    finally:
        await consumer.stop()
    return Rate("raw aiokafka consume (baseline)", seen, timer.seconds)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # partitions_for_topic needs it
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


async def run(events: int, customers: int) -> list[Row]:
    demo_scorer = next(s for s in SERVICES if s.name == "scorer")
    if port_open("127.0.0.1", demo_scorer.port):
        raise SystemExit(
            "the demo's scorer is running and would score the benchmark's events into the demo's "
            "data: stop it first (./scripts/stop-demo)"
        )
    settings = await connection()
    worker = ScorerWorker(settings, f"bench-scorer-{uuid.uuid4().hex[:6]}")
    worker.start()
    try:
        await worker.wait_ready(timeout_s=120)
        await wait_until_assigned(settings.kafka_bootstrap_servers, worker.app_id)
        start = await end_offsets(settings.kafka_bootstrap_servers, INTERACTION.name)
        metrics_url = worker.metrics_url
        before = scored(metrics_url)
        records = [
            encode(sample_event(n).model_copy(update={"subject": f"B-{n % customers:06d}"}))
            for n in range(events)
        ]
        print(f"{events} order events for {customers} customers -> {INTERACTION.name}")
        produced = await raw_produce(settings, INTERACTION.name, records)
        print(produced.line())
        started = time.perf_counter()
        last_report = started
        while (done := scored(metrics_url) - before) < events:
            await asyncio.sleep(0.5)
            if time.perf_counter() - last_report > 10:
                last_report = time.perf_counter()
                print(f"  ... {done:,.0f} scored after {last_report - started:.0f}s")
        scorer_rate = Rate(
            "scorer: event -> score stored + published", events, time.perf_counter() - started
        )
        baseline = await raw_consume_from(
            settings.kafka_bootstrap_servers, INTERACTION.name, start, events
        )
        print(baseline.line())
        print(scorer_rate.line(baseline))
        target = 2_000
        verdict = "meets" if scorer_rate.per_second >= target else "misses"
        print(f"scorer {verdict} the {target:,}/s target on this machine")
        ratio = scorer_rate.per_second / baseline.per_second
        return [
            Row(
                "scoring",
                f"throughput, {events:,} events / {customers:,} customers",
                f"{scorer_rate.per_second:,.0f} /s ({ratio:.3f}x raw consume)",
                ">= 2,000 /s; >= 0.5x raw",
            )
        ]
    finally:
        worker.stop()
        await drop_databases(settings)


async def latency(rate: int, seconds: float, customers: int) -> list[Row]:
    """Event → score latency at a fixed offered load: `rate` order events/s for `seconds`,
    round robin over `customers`, produced straight to `crm.interaction.v1`; each event's clock
    runs from its hand-over to the producer until a score on `crm.scores.v1` reflects it."""
    settings = await connection()
    worker = ScorerWorker(settings, f"bench-scorer-{uuid.uuid4().hex[:6]}")
    watcher = ScoreWatcher(settings)
    run_id = uuid.uuid4().hex[:6]
    events = EventClock()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )
    print(
        f"scoring latency: {rate:,} order events/s offered for {seconds:.0f}s over "
        f"{customers:,} customers -> {INTERACTION.name}"
    )
    worker.start()
    try:
        await worker.wait_ready(timeout_s=120)
        await wait_until_assigned(settings.kafka_bootstrap_servers, worker.app_id)
        await watcher.start()
        await producer.start()
        before = scorer_metrics(worker.metrics_url)
        sent = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            for _ in range(min(int(rate * elapsed) - sent, rate)):
                customer = f"L{run_id}-{sent % customers:06d}"
                at = events.next(customer)
                record = encode(
                    sample_event(sent).model_copy(
                        update={"subject": customer, "time": from_millis(at)}
                    )
                )
                await producer.send(
                    INTERACTION.name, record.value, key=record.key, headers=list(record.headers)
                )
                watcher.expect(customer, at, time.perf_counter())
                sent += 1
            await asyncio.sleep(0.01)
        await producer.flush()
        achieved = Rate("offered load, achieved", sent, time.perf_counter() - started)
        print(achieved.line())
        progressing = await watcher.settle(stall_s=30, max_s=600)
        print(scorer_breakdown(worker.metrics_url, before, watcher.last_match - started))
        result = watcher.result()
        print(result.line("event -> score on crm.scores.v1 (after Mongo)"))
        print(result.windows())
        if result.lost and progressing:
            print(f"  {result.lost} not scored yet when the wait ended; the scorer still advanced")
        verdict = "met" if result.p99_ms < 500 and not result.lost else "missed"
        print(f"target p99 < 500 ms at 2,000 events/s, lost 0: {verdict} (offered {rate:,}/s)")
        return [
            Row(
                "scoring",
                f"event->score at {achieved.per_second:,.0f}/s ({customers:,} customers)",
                f"p50 {result.p50_ms:,.0f} / p99 {result.p99_ms:,.0f} ms, lost {result.lost}",
                "p99 < 500 ms at 2,000/s",
            )
        ]
    finally:
        await producer.stop()
        await watcher.stop()
        worker.stop()
        await drop_databases(settings)
