"""The one way services reach MongoDB: PyMongo's async client, named databases, clear errors.

Only operations that both FerretDB 1.24 and MongoDB 7 support are used anywhere in the
project (see docs/development.md, "MongoDB portability").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient, DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shared.settings import ConnectionSettings

Document = dict[str, Any]
MongoClient = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]


def connect(settings: ConnectionSettings, *, timeout_ms: int = 5000) -> MongoClient:
    """A client for the configured server; connects lazily on first use."""
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
    )


def database(client: MongoClient, settings: ConnectionSettings, name: str) -> Database:
    """The database `name` (e.g. ``crm_customer``) under the configured prefix."""
    return client[settings.mongo_database_prefix + name]


# FerretDB 1.24 keeps every statement's SQLite cursor of an `update` command open until the
# whole command ends, from a pool of 100 connections per database: one command with ~100
# statements (or a few concurrent ones) deadlocks the database for good. Keep them small.
MAX_UPDATES_PER_COMMAND = 20


MAX_CONCURRENT_COMMANDS = 2


async def bulk_update(
    collection: Collection,
    operations: Sequence[UpdateOne | ReplaceOne[Document] | DeleteOne],
) -> int:
    """Apply single-document updates, replacements or deletions in small commands; how many
    modified."""
    chunks = [
        list(operations[start : start + MAX_UPDATES_PER_COMMAND])
        for start in range(0, len(operations), MAX_UPDATES_PER_COMMAND)
    ]
    modified = 0
    for first in range(0, len(chunks), MAX_CONCURRENT_COMMANDS):
        results = await asyncio.gather(
            *(
                collection.bulk_write(chunk, ordered=False)
                for chunk in chunks[first : first + MAX_CONCURRENT_COMMANDS]
            )
        )
        modified += sum(result.modified_count for result in results)
    return modified


async def reachable(client: MongoClient) -> bool:
    """True when the server answers `ping` (used by readiness checks)."""
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    return True
