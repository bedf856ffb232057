"""`python -m services.scoring.worker` — run the streaming scorer (a Faust worker).

Composition root of the streaming side: settings → app, topics, table, outputs, agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import faust
import mode
from faust.tables import TableManager
from prometheus_client import generate_latest

from services.scoring import tables, topics
from services.scoring.agents import Agents, Scorer, register
from services.scoring.faust_app import create_faust_app
from services.scoring.outputs import LiveOutputs, Outputs
from services.scoring.settings import Settings, get_settings
from shared import mongo
from shared.consumer import DeadLetters
from shared.events import utc_now
from shared.producer import EventProducer
from shared.topics_admin import ensure_topics


@dataclass(frozen=True)
class Worker:
    app: faust.App
    scorer: Scorer
    agents: Agents
    inputs: topics.InputTopics
    table: tables.CustomerRecords


def build(
    settings: Settings,
    *,
    outputs: Outputs | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Worker:
    """The whole scorer; `outputs` defaults to Mongo + Kafka, started with the app."""
    app = create_faust_app(settings)
    inputs = topics.declare(app)
    table = tables.declare(app)
    live = outputs is None
    if outputs is None:
        outputs = _live_outputs(app, settings, clock)
    scorer = Scorer(
        table=tables.CustomerRecords(table),
        outputs=outputs,
        clock=clock,
        max_future_skew=settings.event_max_future_skew,
        history_resolution=timedelta(seconds=settings.history_resolution_s),
    )
    if live:  # tests without a broker give their own outputs and fix the partitioner
        scorer.before_table_writes = _changelog_metadata(app, table)
        scorer.after_table_writes = _changelog_delivered(table)
    agents = register(
        app,
        scorer=scorer,
        inputs=inputs.all(),
        retirements=topics.retirements(app),
        absorptions=topics.absorptions(app),
        rescore_requests=topics.rescore_requests(app),
        sweep_interval_s=settings.sweep_interval_s,
        batch_size=settings.batch_size,
        batch_wait_s=settings.batch_wait_s,
    )
    return Worker(app=app, scorer=scorer, agents=agents, inputs=inputs, table=scorer.table)


def _changelog_metadata(app: faust.App, table: Any) -> Callable[[], Awaitable[None]]:
    """The table picks each key's changelog partition with the Kafka producer's partitioner
    (`use_partitioner`), which reads the topic's partitions from the producer's metadata cache
    synchronously and fails when the topic is not in it (a fresh worker, a metadata refresh).
    Waiting for the topic's metadata first costs nothing once it is cached."""
    topic = table.changelog_topic.get_topic_name()

    async def ensure() -> None:
        producer = cast(Any, app.producer)._ensure_producer()
        await producer.client._wait_on_metadata(topic)

    return ensure


def _changelog_delivered(table: Any) -> Callable[[], Awaitable[None]]:
    """Waits for the broker's acknowledgement of every changelog record the table has sent.

    Faust commits offsets after flushing its producer, but that flush gives up when no message
    left its buffer for 0.1 s (`ProducerBuffer.flush_atmost`): on a loaded machine offsets
    were committed while the batch's changelog records still waited there, and a worker killed
    then came back without them — events counted in no table and never redelivered (the
    three-kill system test once ended with 17,505 of 20,000 orders counted). The scorer awaits
    this after its table writes, before the batch is acked. Agents write concurrently, so each
    waits for everything sent so far and only finished records are dropped from the list.
    """
    pending: list[Any] = []
    send = table.send_changelog

    def sending(*args: Any, **kwargs: Any) -> Any:
        message = send(*args, **kwargs)  # a FutureMessage, resolved when the broker acked it
        pending.append(message)
        return message

    table.send_changelog = sending

    async def delivered() -> None:
        waiting = list(pending)
        if waiting:
            await asyncio.gather(*waiting)
        pending[:] = [message for message in pending if not message.done()]

    return delivered


def _live_outputs(app: faust.App, settings: Settings, clock: Callable[[], datetime]) -> Outputs:
    producer = EventProducer(settings, client_id=settings.faust_app_id + "-outputs")
    client = mongo.connect(settings)
    db = mongo.database(client, settings, settings.database)
    live = LiveOutputs(
        db=db,
        producer=producer,
        dead_letters=DeadLetters(producer, consumer_group=settings.faust_app_id, clock=clock),
    )

    class OutputsLifecycle(mode.Service):
        """Starts the producer before the agents run; flushes it and closes Mongo on stop."""

        async def on_start(self) -> None:
            await producer.start()

        async def on_stop(self) -> None:
            await producer.stop()
            await client.close()

    app.service(OutputsLifecycle)
    _operations_pages(app, client)
    return live


def _operations_pages(app: faust.App, client: mongo.MongoClient) -> None:
    """/healthz, /readyz and /metrics on the worker's web port, like every HTTP service."""

    @app.page("/healthz")
    class Health(faust.web.View):
        async def get(self, request: faust.web.Request) -> faust.web.Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(faust.web.View):
        async def get(self, request: faust.web.Request) -> faust.web.Response:
            # Scoring runs once the table is recovered from its changelog (minutes for a big
            # one) and stops while a rebalance moves partitions: not ready meanwhile, so a
            # rollout waits for a new pod to score before it replaces the next one.
            recovery = cast(TableManager, app.tables).recovery
            checks = {
                "mongo": await mongo.reachable(client),
                "partitions_assigned": bool(app.consumer.assignment()),
                "tables_recovered": recovery.completed.is_set()
                and not recovery.in_recovery
                and not app.rebalancing,
            }
            ready = all(checks.values())
            return self.json(
                {"status": "ready" if ready else "not ready", "checks": checks},
                status=200 if ready else 503,
            )

    @app.page("/metrics")
    class Metrics(faust.web.View):
        async def get(self, request: faust.web.Request) -> faust.web.Response:
            return self.bytes(generate_latest(), content_type="text/plain; version=0.0.4")


def main() -> None:
    settings = get_settings()
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            topics.control_topics(settings.faust_app_id),
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    )
    # Faust creates its data directory (one per app id) but not the parents.
    Path(settings.faust_data_dir).mkdir(parents=True, exist_ok=True)
    build(settings).app.main()


if __name__ == "__main__":
    main()
