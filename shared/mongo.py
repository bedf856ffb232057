"""The one way services reach MongoDB: PyMongo's async client, named databases, clear errors.

Only operations that both FerretDB 1.24 and MongoDB 7 support are used anywhere in the
project (see docs/development.md, "MongoDB portability").
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
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


async def reachable(client: MongoClient) -> bool:
    """True when the server answers `ping` (used by readiness checks)."""
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    return True
