"""docs/consuming-scores.md works as written: its example consumer and its kcat one-liner, run
against score and alert records that the scorer's own functions made, on the real broker.

The records go to topics of this test (configured like `crm.scores.v1` and `crm.alerts.v1`),
so nothing else the session publishes can change what the commands print.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.scoring.domain.events import OrderPlaced
from services.scoring.processing import CustomerRecord, Rescored, apply, rescore
from shared.events import Event, KafkaRecord, encode
from shared.events.codec import STRUCTURED_CONTENT_TYPE
from shared.events.scoring import ScoreUpdated
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from shared.topics import ALERTS, SCORES
from tests.conftest import unique

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "consuming-scores.md"
EXAMPLE = ROOT / "examples" / "consume_scores.py"
# What the doc's commands say, replaced by this test's broker, topics and group.
DOC_BOOTSTRAP = "127.0.0.1:9092"
DOC_GROUP = "bi-scores-table"

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def doc_command(marker: str) -> str:
    """The one-line command in the fenced block right after `<!-- consuming-scores:marker -->`."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- consuming-scores:{marker} -->\n```bash\n(?P<command>[^\n]+)\n```", text
    )
    assert found, f"{DOC.name} has no bash block marked consuming-scores:{marker}"
    return found["command"]


def orders(customer_id: str, count: int, *, every: timedelta) -> CustomerRecord:
    """The scorer's table record after `count` orders (folded by the scorer's own `apply`)."""
    record: CustomerRecord | None = None
    for n in range(count):
        order = OrderPlaced(f"SO-{customer_id}-{n}", T0 + n * every, 1200.0)
        folded = apply(record, event_id=f"{customer_id}-order-{n}", item=order)
        assert folded is not None
        record = folded.record
    assert record is not None
    return record


def scored(record: CustomerRecord | None, customer_id: str, as_of: datetime) -> Rescored:
    assert record is not None
    return rescore(record, customer_id=customer_id, as_of=as_of, computed_at=as_of)


def structured(event: Event[Any], topic: str) -> KafkaRecord:
    """The event in structured mode: the whole envelope as the value (other producers may)."""
    return KafkaRecord(
        topic=topic,
        key=event.subject.encode(),
        value=event.model_dump_json(exclude_none=True).encode(),
        headers=(("content-type", STRUCTURED_CONTENT_TYPE.encode()),),
    )


@dataclass(frozen=True)
class Published:
    scores_topic: str
    alerts_topic: str
    records: int  # on both topics, tombstone and redelivery included
    latest: dict[str, Event[ScoreUpdated]]  # customer id -> last score published
    tombstoned: str
    alerted: str
    undecodable: str
    score_keys: list[str]  # key of every record on the scores topic, in publishing order


@pytest.fixture(scope="module")
async def published(connection: ConnectionSettings) -> AsyncIterator[Published]:
    """Scores, an alert (delivered twice) and a tombstone as the scorer publishes them, one
    score in structured mode and one record that is no CloudEvent."""
    scores_topic, alerts_topic = unique("test.scores"), unique("test.alerts")
    admin = AIOKafkaAdminClient(bootstrap_servers=connection.kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics(
        [
            NewTopic(scores_topic, 3, 1, topic_configs=SCORES.config()),
            NewTopic(alerts_topic, 3, 1, topic_configs=ALERTS.config()),
        ]
    )
    retarget = {SCORES.name: scores_topic, ALERTS.name: alerts_topic}

    def on_test_topics(events: list[Event[Any]]) -> list[KafkaRecord]:
        # The scorer's own encoding (binary mode, keyed by customer), on this test's topics.
        return [replace(r, topic=retarget[r.topic]) for r in map(encode, events)]

    # Monthly buyer: a healthy first score, then 60 silent days later the time-driven review
    # finds them critical and raises an alert (the scorer's own `rescore` decides both).
    a, b, c, d = unique("cust-a"), unique("cust-b"), unique("cust-c"), unique("cust-d")
    monthly = orders(a, 12, every=timedelta(days=30))
    last_order = T0 + 11 * timedelta(days=30)
    a_first = scored(monthly, a, last_order)
    a_later = scored(a_first.record, a, last_order + timedelta(days=60))
    assert a_first.alert is None and a_later.alert is not None
    assert (a_first.updated.data.churn.band, a_later.updated.data.churn.band) == ("low", "critical")
    b_only = scored(orders(b, 2, every=timedelta(days=14)), b, T0 + timedelta(days=14))
    c_first = scored(orders(c, 3, every=timedelta(days=7)), c, T0 + timedelta(days=14))
    c_later = scored(orders(c, 4, every=timedelta(days=7)), c, T0 + timedelta(days=21))
    assert c_later.updated.data != c_first.updated.data

    producer = EventProducer(connection, client_id="test-consuming-scores-doc")
    await producer.start()
    try:
        await producer.publish_records(
            on_test_topics([a_first.updated, a_later.updated, a_later.alert])
            # The same alert again, as after a scorer restart: consumers must notify once.
            + on_test_topics([a_later.alert])
            + on_test_topics([b_only.updated, c_first.updated])
            + [structured(c_later.updated, scores_topic)]
            # Not a CloudEvent at all: a consumer reports it and carries on.
            + [KafkaRecord(topic=scores_topic, key=d.encode(), value=b"not json", headers=())]
        )
        # B is forgotten (erased or merged away): the scorer's own tombstone call.
        await producer.tombstones(scores_topic, [b])
    finally:
        await producer.stop()
    yield Published(
        scores_topic=scores_topic,
        alerts_topic=alerts_topic,
        records=9,
        latest={a: a_later.updated, c: c_later.updated},
        tombstoned=b,
        alerted=a,
        undecodable=d,
        score_keys=[a, a, b, c, c, d, b],
    )
    await admin.delete_topics([scores_topic, alerts_topic])
    await admin.close()


def run(command: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=os.environ | {"PYTHONIOENCODING": "utf-8"},
        check=False,
    )


def test_the_example_needs_nothing_but_the_standard_library_and_aiokafka() -> None:
    # A downstream team does not have this repository's packages.
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = {
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    foreign = {name for name in imported if name not in sys.stdlib_module_names}
    assert foreign == {"aiokafka"}


async def test_the_example_keeps_the_latest_scores_forgets_tombstones_and_alerts_once(
    published: Published, connection: ConnectionSettings
) -> None:
    command = doc_command("example")
    assert DOC_BOOTSTRAP in command and DOC_GROUP in command, command
    argv = shlex.split(
        command.replace(DOC_BOOTSTRAP, connection.kafka_bootstrap_servers).replace(
            DOC_GROUP, unique("test-doc-example")
        )
    )
    assert argv[0] == "python"
    argv[0] = sys.executable
    argv += [
        "--scores-topic",
        published.scores_topic,
        "--alerts-topic",
        published.alerts_topic,
        "--max-messages",
        str(published.records),
    ]

    result = run(argv, timeout=90)

    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1, result.stderr
    assert "the value is not JSON" in skipped[0]
    lines = result.stdout.splitlines()
    alerts = [line for line in lines if line.startswith("alert ")]
    assert len(alerts) == 1, result.stdout  # delivered twice, printed once
    assert alerts[0].startswith(f"alert {published.alerted} churn low -> critical (risk 0.75)")
    assert "2.0× the customer's usual interval of 30 days" in alerts[0]
    assert f"forgotten {published.tombstoned}" in lines

    header = lines.index(
        "customer_id\tchurn_risk\tchurn_band\tloyalty\tloyalty_band\tvalue_tier\tlifecycle\tas_of"
    )
    assert lines[header - 1] == f"latest scores: {len(published.latest)} customers"
    table = {row.split("\t")[0]: row.split("\t")[1:] for row in lines[header + 1 :]}
    expected = {}
    for customer_id, event in published.latest.items():
        data = json.loads(event.data.model_dump_json())
        expected[customer_id] = [
            f"{data['churn']['risk']:.4f}",
            data["churn"]["band"],
            f"{data['loyalty']['score']:.1f}",
            data["loyalty"]["band"],
            data["value_tier"],
            data["lifecycle"],
            data["as_of"],
        ]
    assert table == expected


async def test_the_kcat_one_liner_prints_keys_headers_and_values_to_the_end(
    published: Published, connection: ConnectionSettings
) -> None:
    if shutil.which("kcat") is None:
        pytest.fail(
            "kcat is not installed: `apt-get install kcat` "
            "(scripts/debian-packages, which ./scripts/run-tests runs, installs it)"
        )
    command = doc_command("kcat")
    assert DOC_BOOTSTRAP in command and SCORES.name in command, command
    argv = shlex.split(
        command.replace(DOC_BOOTSTRAP, connection.kafka_bootstrap_servers).replace(
            SCORES.name, published.scores_topic
        )
    )

    result = run(argv, timeout=60)  # `-e` makes it exit at the end of the topic

    assert result.returncode == 0, result.stderr
    rows = [line.split("\t", 2) for line in result.stdout.splitlines()]
    assert sorted(row[0] for row in rows) == sorted(published.score_keys), result.stdout
    by_key: dict[str, list[list[str]]] = {}
    for row in rows:
        by_key.setdefault(row[0], []).append(row)
    # Within a key (one partition) the order is the publishing order: the last row is current.
    _, headers, value = by_key[published.tombstoned][-1]
    assert (headers, value) == ("", "NULL")  # a tombstone: no headers, no value
    a = published.alerted
    _, headers, value = by_key[a][-1]
    assert f"ce_id={published.latest[a].id}" in headers.split(",")
    assert "ce_type=crm.score.updated.v1" in headers.split(",")
    assert json.loads(value) == json.loads(published.latest[a].data.model_dump_json())
    c = next(customer for customer in published.latest if customer != a)
    _, headers, value = by_key[c][-1]
    assert headers == f"content-type={STRUCTURED_CONTENT_TYPE}"
    assert json.loads(value)["id"] == published.latest[c].id
