"""Fixtures of the scorer's integration tests: the input topics' partition count and a
producer of input events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared import topics
from shared.producer import EventProducer
from shared.settings import ConnectionSettings
from tests.conftest import unique
from tests.integration.scoring.test_worker import partitions_of


@pytest.fixture(scope="module")
async def input_partitions(connection: ConnectionSettings) -> int:
    return await partitions_of(connection, topics.INTERACTION.name)


@pytest.fixture
async def producer(connection: ConnectionSettings) -> AsyncIterator[EventProducer]:
    events = EventProducer(connection, client_id=unique("scoring-it-producer"))
    await events.start()
    yield events
    await events.stop()
