"""The ops CLI (`python -m shared.ops`) against the real Kafka and FerretDB of the test stack.

Commands run through typer's CliRunner with `CRM_*` variables pointing them at the test stack
and at this module's own topics, groups and databases, so they never touch other tests' data.
The tests are synchronous because each command runs its own event loop (`asyncio.run`); the
Kafka/Mongo set-up around them uses `asyncio.run` too.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient
from typer.testing import CliRunner, Result

from services.scoring.adapter import to_input
from services.scoring.outputs import HISTORY, score_document, upsert_scores
from services.scoring.processing import apply, rescore
from services.scoring.settings import Settings as ScoringSettings
from services.scoring.tables import TABLE_NAME
from services.scoring.topics import INPUT_SPECS
from shared.dlq import inspect_dead_letters
from shared.events import new_event
from shared.events.interaction import OrderPlaced
from shared.ops.cli import app
from shared.ops.rescore import ScorerRunning, _commit_earliest, changelog_topic
from shared.ops.scores import ExportFormat, export_scores
from shared.ops.topics import create_topics, verify_topics
from shared.settings import ConnectionSettings
from shared.topics import TopicSpec, all_topics
from tests.conftest import unique

pytestmark = pytest.mark.stack

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def env(connection: ConnectionSettings) -> dict[str, str]:
    """The variables that point the CLI at the test stack (wide lines: tables stay unwrapped)."""
    return {
        "CRM_KAFKA_BOOTSTRAP_SERVERS": connection.kafka_bootstrap_servers,
        "CRM_MONGO_URL": connection.mongo_url,
        "CRM_MONGO_DATABASE_PREFIX": connection.mongo_database_prefix,
        "COLUMNS": "250",
    }


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def table_rows(output: str) -> list[list[str]]:
    """The cells of every body row of a rich table in `output`."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.strip().startswith("│")
    ]


async def _admin_topics(bootstrap: str, create: list[NewTopic], delete: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics(create)
        if delete:
            await admin.delete_topics(delete)
    finally:
        await admin.close()


@pytest.fixture
def topic_names(connection: ConnectionSettings) -> Iterator[list[str]]:
    """Topics a test creates; deleted afterwards."""
    names: list[str] = []
    yield names
    bootstrap = connection.kafka_bootstrap_servers

    async def cleanup() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            present = [n for n in names if n in await admin.list_topics()]
            if present:
                await admin.delete_topics(present)
        finally:
            await admin.close()

    asyncio.run(cleanup())


# ---------------------------------------------------------------------------------- topics


async def _partitions(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


def test_topics_create_is_idempotent_and_verify_reports_differences(
    env: dict[str, str], connection: ConnectionSettings
) -> None:
    first = invoke(env, "topics", "create")
    assert first.exit_code == 0, first.output
    again = invoke(env, "topics", "create")
    assert again.exit_code == 0, again.output
    for spec in all_topics():
        assert f"existing  {spec.name}" in again.output
    assert f"0 created, {len(all_topics())} existing" in again.output

    # The stack created every topic with one partition count; verify against that count.
    actual = asyncio.run(_partitions(connection.kafka_bootstrap_servers, all_topics()[0].name))
    matching = invoke({**env, "CRM_TOPIC_PARTITIONS": str(actual)}, "topics", "verify")
    assert matching.exit_code == 0, matching.output
    assert f"all {len(all_topics())} topics match" in matching.output

    wrong = invoke({**env, "CRM_TOPIC_PARTITIONS": str(actual + 1)}, "topics", "verify")
    assert wrong.exit_code == 1, wrong.output
    rows = table_rows(wrong.output)
    assert {row[0] for row in rows} == {spec.name for spec in all_topics()}
    assert all(row[1:] == ["partitions", str(actual + 1), str(actual)] for row in rows)


def test_create_and_verify_on_topics_of_the_tests_own(
    connection: ConnectionSettings, topic_names: list[str]
) -> None:
    """Creation, existing topics and every kind of difference, on specs made for this test."""
    bootstrap = connection.kafka_bootstrap_servers
    facts = TopicSpec(unique("test.ops.facts"), "a fact log", retention_ms=7 * 24 * 3600 * 1000)
    latest = TopicSpec(unique("test.ops.latest"), "a compacted topic", cleanup_policy="compact")
    # Declared compacted, but created by hand as a plain delete topic with 2 partitions.
    drifted = TopicSpec(unique("test.ops.drifted"), "drifted", cleanup_policy="compact")
    missing = TopicSpec(unique("test.ops.missing"), "never created")
    topic_names.extend([facts.name, latest.name, drifted.name])

    created, existing = asyncio.run(
        create_topics(bootstrap, (facts, latest), partitions=3, replication_factor=1)
    )
    assert (sorted(created), existing) == (sorted([facts.name, latest.name]), [])
    created, existing = asyncio.run(
        create_topics(bootstrap, (facts, latest), partitions=3, replication_factor=1)
    )
    assert (created, sorted(existing)) == ([], sorted([facts.name, latest.name]))

    asyncio.run(
        _admin_topics(
            bootstrap,
            [NewTopic(drifted.name, 2, 1, topic_configs={"cleanup.policy": "delete"})],
            [],
        )
    )
    differences = asyncio.run(
        verify_topics(
            bootstrap, (facts, latest, drifted, missing), partitions=3, replication_factor=1
        )
    )
    found = {(d.topic, d.setting, d.expected, d.actual) for d in differences}
    # delete.retention.ms and min.compaction.lag.ms are not listed: the broker's defaults equal
    # the registry's values, so the hand-made topic does not differ there.
    assert found == {
        (drifted.name, "partitions", "3", "2"),
        (drifted.name, "cleanup.policy", "compact", "delete"),
        (drifted.name, "retention.ms", "-1", str(7 * 24 * 3600 * 1000)),
        (missing.name, "exists", "yes", "no"),
    }


# ------------------------------------------------------------------------------------- dlq


async def _produce(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=headers, partition=0)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    """Every message on `topic` (value, headers); the topics here start at offset 0."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        # The assignment's own background reset must not land on "latest" (see shared/dlq.py).
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[tuple[bytes, dict[str, bytes]]] = []
        deadline = asyncio.get_running_loop().time() + 30
        while sum(ends.values()) > len(found):
            assert asyncio.get_running_loop().time() < deadline, f"read {len(found)} of {ends}"
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                found.extend((r.value, dict(r.headers)) for r in batch)
        return found
    finally:
        await consumer.stop()


def dead_letter(
    origin: str, n: int, error_class: str
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [
        ("ce_id", f"event-{n}".encode()),
        ("dlq_reason", f"{error_class} number {n}".encode()),
        ("dlq_error_class", error_class.encode()),
        ("dlq_origin_topic", origin.encode()),
        ("dlq_origin_partition", b"0"),
        ("dlq_origin_offset", str(n).encode()),
    ]
    return b"customer-1", f"value-{n}".encode(), headers


def test_dlq_list_counts_by_error_class_and_replay_honours_reason_and_dry_run(
    env: dict[str, str], connection: ConnectionSettings, topic_names: list[str]
) -> None:
    bootstrap = connection.kafka_bootstrap_servers
    origin = unique("test.ops.origin")
    dlq = origin + ".dlq"
    topic_names.extend([origin, dlq])
    asyncio.run(_admin_topics(bootstrap, [NewTopic(origin, 1, 1), NewTopic(dlq, 3, 1)], []))
    letters = [
        dead_letter(origin, 1, "handler_error"),
        dead_letter(origin, 2, "schema_invalid"),
        dead_letter(origin, 3, "handler_error"),
    ]
    asyncio.run(_produce(bootstrap, dlq, letters))

    listed = invoke(env, "dlq", "list", dlq)
    assert listed.exit_code == 0, listed.output
    rows = table_rows(listed.output)
    assert [dlq, "handler_error", "2", "handler_error number 3"] in rows
    assert [dlq, "schema_invalid", "1", "schema_invalid number 2"] in rows
    assert [dlq, "total", "3", ""] in rows

    # What drives the bar: (read so far, to read), ending at the whole topic.
    calls: list[tuple[int, int]] = []
    asyncio.run(inspect_dead_letters(connection, dlq, progress=lambda *c: calls.append(c)))
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)

    dry = invoke(env, "dlq", "replay", dlq, "--reason", "handler_error", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would replay 2, skipped 1" in dry.output
    assert asyncio.run(_read_all(bootstrap, origin)) == [], "a dry run publishes nothing"

    replay = invoke(env, "dlq", "replay", dlq, "--reason", "handler_error")
    assert replay.exit_code == 0, replay.output
    assert "replayed 2, skipped 1" in replay.output
    republished = asyncio.run(_read_all(bootstrap, origin))
    assert sorted(value for value, _ in republished) == [b"value-1", b"value-3"]
    for _, headers in republished:
        assert not [k for k in headers if k.startswith("dlq_")]
        assert headers["ce_id"].startswith(b"event-")

    again = invoke(env, "dlq", "replay", dlq)
    assert again.exit_code == 0, again.output
    assert "replayed 0" in again.output, "what a replay read is not replayed twice"


# ------------------------------------------------------------------------------------- lag


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


def test_lag_shows_committed_end_and_lag_per_partition_and_group(
    env: dict[str, str], connection: ConnectionSettings, topic_names: list[str]
) -> None:
    bootstrap = connection.kafka_bootstrap_servers
    topic = unique("test.ops.lag")
    group = unique("test-ops-lag")
    topic_names.append(topic)
    asyncio.run(_admin_topics(bootstrap, [NewTopic(topic, 2, 1)], []))
    asyncio.run(_produce(bootstrap, topic, [(b"k", b"v", [])] * 5))  # all on partition 0
    asyncio.run(
        _commit(bootstrap, group, {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 0})
    )

    result = invoke(env, "lag", "--group", group)
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert [group, topic, "0", "2", "5", "3"] in rows
    assert [group, topic, "1", "0", "0", "0"] in rows
    assert [group, "total (Empty, 0 member(s))", "", "", "", "3"] in rows


# ---------------------------------------------------------------------------------- scores


def _scored(customer_id: str, amount: str, at: datetime) -> tuple[dict[str, object], str]:
    """A score document and its history id, computed by the scorer's own functions."""
    event = new_event(
        OrderPlaced(order_id=unique("order"), amount=Decimal(amount)),
        subject=customer_id,
        source="/tests/ops",
        time=at,
    )
    folded = apply(None, event_id=event.id, item=to_input(event))
    assert folded is not None
    rescored = rescore(folded.record, customer_id=customer_id, as_of=at, computed_at=at)
    return (
        score_document(customer_id, rescored.updated.id, rescored.updated.data),
        rescored.updated.id,
    )


async def _seed_scores(connection: ConnectionSettings, database: str) -> None:
    """Two customers; `b` scored twice (the later score is the latest)."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        connection.mongo_url, tz_aware=True
    )
    try:
        db = client[connection.mongo_database_prefix + database]
        for customer_id, amount, at in (
            ("cust-b", "100", T0),
            ("cust-a", "900", T0 + timedelta(hours=1)),
            ("cust-b", "5000", T0 + timedelta(days=2)),
        ):
            document, history_id = _scored(customer_id, amount, at)
            await upsert_scores(db, [document])
            await db[HISTORY].insert_one({**document, "_id": history_id})
    finally:
        await client.close()


async def _drop(connection: ConnectionSettings, database: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(connection.mongo_url)
    try:
        await client.drop_database(connection.mongo_database_prefix + database)
    finally:
        await client.close()


@pytest.fixture
def scores_env(env: dict[str, str], connection: ConnectionSettings) -> Iterator[dict[str, str]]:
    database = unique("ops_scores").replace("-", "_")
    asyncio.run(_seed_scores(connection, database))
    yield {**env, "CRM_DATABASE": database}
    asyncio.run(_drop(connection, database))


def test_scores_export_writes_the_apis_lines_latest_and_as_of(
    scores_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    result = invoke(scores_env, "scores", "export", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 customers written" in result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [row["customer_id"] for row in rows] == ["cust-a", "cust-b"]
    assert rows[1]["as_of"] == (T0 + timedelta(days=2)).isoformat()

    ndjson = invoke(scores_env, "scores", "export", "--as-of", "2026-03-01T12:00:00Z")
    assert ndjson.exit_code == 0, ndjson.output
    lines = [json.loads(line) for line in ndjson.stdout.splitlines() if line.startswith("{")]
    assert [(s["customer_id"], s["as_of"]) for s in lines] == [
        ("cust-a", "2026-03-01T01:00:00Z"),
        ("cust-b", "2026-03-01T00:00:00Z"),
    ]

    naive = invoke(scores_env, "scores", "export", "--as-of", "2026-03-01T12:00:00")
    assert naive.exit_code == 2
    assert "give a zone" in naive.output


# --------------------------------------------------------------------------------- rescore


async def _input_offsets(
    bootstrap: str,
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(spec.name, p)
            for spec in INPUT_SPECS
            for p in consumer.partitions_for_topic(spec.name) or ()
        ]
        return await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _hold_member(
    bootstrap: str, group: str, topic: str, joined: asyncio.Event, release: asyncio.Event
) -> None:
    """Be a live member of `group` from `joined` until `release` (a running scorer)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        joined.set()
        await release.wait()
    finally:
        await consumer.stop()


def test_rescore_all_rewinds_a_stopped_scorer_and_drops_its_table(
    env: dict[str, str], connection: ConnectionSettings, topic_names: list[str]
) -> None:
    bootstrap = connection.kafka_bootstrap_servers
    app_id = unique("ops-scorer")
    changelog = changelog_topic(app_id, TABLE_NAME)
    topic_names.append(changelog)
    asyncio.run(_admin_topics(bootstrap, [NewTopic(changelog, 3, 1)], []))
    starts, ends = asyncio.run(_input_offsets(bootstrap))
    # A scorer that had read everything so far, then stopped.
    asyncio.run(_commit(bootstrap, app_id, ends))
    scorer_env = {**env, "CRM_FAUST_APP_ID": app_id}

    refused = invoke(scorer_env, "rescore", "--yes")
    assert refused.exit_code == 2 and "give --all" in refused.output

    result = invoke(scorer_env, "rescore", "--all", "--yes")
    assert result.exit_code == 0, result.output
    committed = asyncio.run(_committed(bootstrap, app_id))
    assert committed == starts, "every input partition rewound to its first offset"
    assert changelog not in asyncio.run(_topics(bootstrap))
    assert f"{len(starts)} partitions rewound" in result.output
    assert f"changelog {changelog}: deleted" in result.output

    twice = invoke(scorer_env, "rescore", "--all", "--yes")
    assert twice.exit_code == 0, twice.output
    assert "absent (nothing to delete)" in twice.output


def test_rescore_refuses_while_a_scorer_is_running(
    env: dict[str, str], connection: ConnectionSettings, topic_names: list[str]
) -> None:
    bootstrap = connection.kafka_bootstrap_servers
    app_id = unique("ops-scorer")
    topic = unique("test.ops.member")
    topic_names.append(topic)
    asyncio.run(_admin_topics(bootstrap, [NewTopic(topic, 1, 1)], []))
    scorer_env = {**env, "CRM_FAUST_APP_ID": app_id}
    outcome: list[Result] = []

    async def scenario() -> None:
        joined, release = asyncio.Event(), asyncio.Event()
        member = asyncio.create_task(_hold_member(bootstrap, app_id, topic, joined, release))
        try:
            await asyncio.wait_for(joined.wait(), 30)
            # The CLI runs its own event loop: give it a thread while the member stays alive.
            outcome.append(await asyncio.to_thread(invoke, scorer_env, "rescore", "--all", "--yes"))
            # Past the members check (a worker joining just after it): the broker refuses.
            with pytest.raises(ScorerRunning, match="broker refused"):
                await _commit_earliest(bootstrap, app_id, INPUT_SPECS)
        finally:
            release.set()
            await member

    asyncio.run(scenario())
    [result] = outcome
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and "active member" in result.output
    assert asyncio.run(_committed(bootstrap, app_id)) == {}, "nothing was moved"


def test_export_reports_progress_by_customers_written(
    scores_env: dict[str, str], connection: ConnectionSettings
) -> None:
    settings = ScoringSettings(**connection.model_dump(), database=scores_env["CRM_DATABASE"])
    calls: list[tuple[int, int | None]] = []
    buffer = io.StringIO()
    written = asyncio.run(
        export_scores(settings, buffer, fmt=ExportFormat.CSV, progress=lambda *c: calls.append(c))
    )
    assert written == 2 and len(buffer.getvalue().splitlines()) == 3, "header + 2 customers"
    assert calls == [(0, 2), (1, 2), (2, 2)], "the bar's length is the latest-score count"
