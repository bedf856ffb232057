"""Sustained scorer throughput: the real Faust worker, as a process, on the local stack.

A worker with a fresh consumer group (starting at the end of the topics) and its own Mongo
database prefix is started; `events` order events for `customers` customers are produced to
`crm.interaction.v1` as fast as Kafka takes them; the clock runs until the worker's own
`crm_scorer_events_scored_total` says every one was folded into a stored, published score.
The baseline is a raw aiokafka consumer reading the same records in the same run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import urllib.request
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import Rate, Timer, connection
from bench.messaging import raw_produce, sample_event
from shared.demo.processes import SERVICES, ServiceRunner
from shared.events import encode
from shared.mongo import connect
from shared.stack import StackSettings
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


async def run(events: int, customers: int) -> None:
    demo_scorer = next(s for s in SERVICES if s.name == "scorer")
    if port_open("127.0.0.1", demo_scorer.port):
        raise SystemExit(
            "the demo's scorer is running and would score the benchmark's events into the demo's "
            "data: stop it first (./scripts/stop-demo)"
        )
    settings = await connection()
    stack = StackSettings()
    app_id = f"bench-scorer-{uuid.uuid4().hex[:6]}"
    scorer = dataclasses.replace(
        next(s for s in SERVICES if s.name == "scorer"), port=16066, name="bench-scorer"
    )
    runner = ServiceRunner(
        stack,
        services=[scorer],
        extra_env={
            "CRM_MONGO_DATABASE_PREFIX": settings.mongo_database_prefix,
            "CRM_FAUST_APP_ID": app_id,
            "CRM_FAUST_OFFSET_RESET": "latest",
            "CRM_SWEEP_INTERVAL_S": "3600",
        },
    )
    runner.down()
    runner.up()
    try:
        await wait_until_assigned(settings.kafka_bootstrap_servers, app_id)
        start = await end_offsets(settings.kafka_bootstrap_servers, INTERACTION.name)
        metrics_url = f"{scorer.url}/metrics"
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
    finally:
        runner.down()
        client = connect(settings)
        for name in await client.list_database_names():
            if name.startswith(settings.mongo_database_prefix):
                await client.drop_database(name)
        await client.close()
