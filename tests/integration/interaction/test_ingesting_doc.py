"""docs/ingesting.md's examples, run as written against the real Kafka and interaction service.

Every fenced block with the info string ``sh test`` is run with bash, in order, with `BROKER`,
`CRM` and `TOKEN` pointing at the test stack (kcat against the real broker, curl against the
service served by uvicorn on a real port). A block must exit 0 (curl runs with
`--fail-with-body`, so a 4xx fails it); a ``json`` block right after one is the answer the doc
promises, and must match the real one (strings containing "…" match anything, objects are
compared on the keys shown, arrays element by element on what they show). Afterwards the
facts the examples describe must be on the customers' timelines and published on
`crm.interaction.v1`, the poison example in the DLQ and the unknown caller parked.
If you change the examples' customers or ids, change EXPECTED_TIMELINES here too.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from services.interaction.store import ActivityStore, ReferenceStore
from shared.auth import AuthSettings, Scope, TokenIssuer, api_key_principal
from shared.consumer import EventConsumer
from shared.events import utc_now
from shared.settings import ConnectionSettings
from shared.topics import CONTACT_CENTER_INGEST, INTERACTION
from tests.integration.interaction.conftest import running_with_consumers
from tests.integration.messaging_support import TopicTail, header

DOC = Path(__file__).resolve().parents[3] / "docs" / "ingesting.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)

# What the examples record, per customer (timeline entry kinds, any order).
EXPECTED_TIMELINES = {
    "C-1001": ["interaction", "interaction", "order_placed", "order_cancelled"],
    "C-1002": ["interaction", "order_placed"],
}
UNKNOWN_CALLER = "phone:+8613800138000"
POISON_EVENT_ID = "genesys-7731999"

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="run scripts/debian-packages")


@dataclass(frozen=True)
class Example:
    line: int
    script: str
    answer: Any | None
    """The JSON the doc shows right after the block, if any."""


def examples(text: str) -> list[Example]:
    """The `sh test` blocks of a markdown text, each with the JSON answer shown after it."""
    blocks = list(FENCE.finditer(text))
    found = []
    for position, block in enumerate(blocks):
        if block["info"].split() != ["sh", "test"]:
            continue
        answer = None
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        between = text[block.end() : following.start()] if following else ""
        if following is not None and following["info"].strip() == "json" and not between.strip():
            answer = json.loads(following["body"])
        found.append(Example(text.count("\n", 0, block.start()) + 1, block["body"], answer))
    return found


def matches(shown: Any, actual: Any) -> bool:
    """Whether the doc's `shown` answer describes `actual` (see the module docstring)."""
    if isinstance(shown, str) and "…" in shown:
        prefix = shown.split("…", 1)[0]
        return isinstance(actual, str) and actual.startswith(prefix)
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in shown.items()
        )
    if isinstance(shown, list):
        return isinstance(actual, list) and all(
            any(matches(item, candidate) for candidate in actual) for item in shown
        )
    return bool(shown == actual)


def test_examples_are_found_and_checked() -> None:
    found = examples(DOC.read_text())
    scripts = "\n".join(example.script for example in found)
    assert len(found) >= 8, "the sh test blocks of docs/ingesting.md went missing"
    for what in ("kcat -P", "ce_specversion", "cloudevents+json", "/v1/batch", "/v1/parked"):
        assert what in scripts, f"no executed example uses {what}"
    assert matches({"id": "int-…", "n": 1}, {"id": "int-42", "n": 1, "extra": True})
    assert not matches({"status": "accepted"}, {"status": "duplicate"})
    assert not matches([{"index": 2}], [{"index": 0}, {"index": 1}])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def served(connection: ConnectionSettings) -> AsyncIterator[tuple[FastAPI, str]]:
    """The interaction service with its ingest consumer, over real HTTP on a free port."""
    async with running_with_consumers(connection) as app:
        port = free_port()
        # The app's lifespan is already running (entered above), so uvicorn must not run it.
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        try:
            yield app, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await serving


def consumed(consumer: EventConsumer) -> int:
    stats = consumer.stats
    return stats.handled + stats.duplicates + stats.ignored + sum(stats.dead_lettered.values())


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_ingesting_doc_examples_work(
    served: tuple[FastAPI, str], connection: ConnectionSettings, tmp_path: Path
) -> None:
    app, url = served
    ingest: EventConsumer = app.state.ingest
    # The key the doc tells an administrator to create.
    scopes = [Scope.INGEST_WRITE, Scope.INTERACTIONS_READ]
    principal = api_key_principal("doc-test", "docs/ingesting.md", scopes)
    token, _ = TokenIssuer(AuthSettings()).access_token(principal, now=utc_now())
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "BROKER": connection.kafka_bootstrap_servers,
        "CRM": url,
        "TOKEN": token,
    }
    published = TopicTail(connection, INTERACTION.name)
    dead = TopicTail(connection, CONTACT_CENTER_INGEST.dlq.name)
    await published.mark()
    await dead.mark()

    for example in examples(DOC.read_text()):
        before = consumed(ingest)
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            example.script,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(shell.communicate(), 60)
        where = f"docs/ingesting.md:{example.line}"
        assert shell.returncode == 0, f"{where} failed:\n{out.decode()}\n{err.decode()}"
        if example.answer is not None:
            answer = json.loads(out)
            assert matches(example.answer, answer), f"{where} answered {answer}"
        produced = example.script.count("kcat -P")
        if produced:
            # Later examples read what this one sent: let the ingest consumer take it first.
            async def taken(before: int = before, produced: int = produced) -> bool:
                return consumed(ingest) >= before + produced

            await eventually(taken, f"{where}: the ingest consumer did not take the message")

    store: ActivityStore = app.state.activities
    for customer, kinds in EXPECTED_TIMELINES.items():

        async def recorded(customer: str = customer, kinds: list[str] = kinds) -> bool:
            return sorted(doc["kind"] for doc in await store.of_customer(customer)) == sorted(kinds)

        await eventually(recorded, f"{customer}'s timeline is not {kinds}")

    events = await published.read(
        lambda got: all(
            sum(1 for r in got if r.key == customer.encode()) >= len(kinds)
            for customer, kinds in EXPECTED_TIMELINES.items()
        ),
        keep=lambda record: record.key is not None and record.key.decode() in EXPECTED_TIMELINES,
    )
    assert {header(r, "ce_source") for r in events} == {"/services/interaction"}

    letters = await dead.read(
        lambda got: len(got) >= 1, keep=lambda r: header(r, "ce_id") == POISON_EVENT_ID
    )
    assert header(letters[0], "dlq_error_class") == "schema_invalid"
    assert "channel" in (header(letters[0], "dlq_reason") or "")

    refs: ReferenceStore = app.state.references
    assert [event.data.interaction_id for _, event, _ in await refs.parked_for(UNKNOWN_CALLER)] == [
        "GEN-7732011"
    ]
