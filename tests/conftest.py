"""Fixtures shared by every test layer.

`stack` brings the real local Kafka + FerretDB up once per test session (or reuses the ones
already running) and hands out connection settings whose database prefix is unique to the
session, so tests never collide with demo data or with each other.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.auth import AuthSettings, Role, TokenIssuer, account_principal
from shared.events import utc_now
from shared.mongo import MongoClient, connect
from shared.settings import ConnectionSettings
from shared.stack import Stack, StackSettings


def unique(prefix: str) -> str:
    """A name no other test (or earlier run) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    local = Stack(StackSettings())
    local.up()
    yield local


@pytest.fixture(scope="session")
def connection(stack: Stack) -> ConnectionSettings:
    return ConnectionSettings(
        kafka_bootstrap_servers=stack.settings.bootstrap_servers,
        mongo_url=stack.settings.mongo_url,
        mongo_database_prefix=f"t{uuid.uuid4().hex[:8]}_",
        topic_partitions=3,
    )


def own_databases(connection: ConnectionSettings, name: str) -> ConnectionSettings:
    """`connection` with databases of its own (still under the session's prefix, so they are
    dropped with the rest): for tests whose services bootstrap state a shared database would
    already hold (accounts, a seeded world) or whose processes outlive one test."""
    return connection.model_copy(
        update={"mongo_database_prefix": f"{connection.mongo_database_prefix}{name}_"}
    )


@pytest.fixture(scope="session")
async def mongo_client(connection: ConnectionSettings) -> AsyncIterator[MongoClient]:
    client = connect(connection)
    yield client
    for name in await client.list_database_names():
        if name.startswith(connection.mongo_database_prefix):
            await client.drop_database(name)
    await client.close()


@pytest.fixture
async def new_topic(connection: ConnectionSettings) -> AsyncIterator[str]:
    """A fresh 3-partition topic for one test (broker auto-create is off)."""
    name = unique("test.topic")
    admin = AIOKafkaAdminClient(bootstrap_servers=connection.kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(name, 3, 1)])
    yield name
    await admin.delete_topics([name])
    await admin.close()


def bearer(role: Role = Role.ADMIN, username: str | None = None) -> dict[str, str]:
    """Headers of a caller with `role`, signed with the settings' (development) key."""
    principal = account_principal(username or f"test-{role.value}", role)
    token, _ = TokenIssuer(AuthSettings()).access_token(principal, now=utc_now())
    return {"Authorization": f"Bearer {token}"}
