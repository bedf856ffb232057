"""Storing scores on the real FerretDB: inserted when new, replaced in bulk, one per customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.outputs import SCORES, upsert_scores
from shared.mongo import MongoClient
from shared.settings import ConnectionSettings
from tests.conftest import unique

pytestmark = pytest.mark.stack

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_scores_are_inserted_then_replaced_in_bulk(
    mongo_client: MongoClient, connection: ConnectionSettings
) -> None:
    db = mongo_client[connection.mongo_database_prefix + unique("scoring").replace("-", "_")]
    customers = [unique("cust") for _ in range(45)]  # more than one bulk command
    await upsert_scores(db, [{"_id": c, "as_of": T0, "v": 1} for c in customers])
    later = T0 + timedelta(days=1)
    await upsert_scores(db, [{"_id": c, "as_of": later, "v": 2} for c in customers[:30]])
    stored = {doc["_id"]: doc async for doc in db[SCORES].find({})}
    assert len(stored) == 45
    assert {stored[c]["v"] for c in customers[:30]} == {2}
    assert {stored[c]["v"] for c in customers[30:]} == {1}
    assert stored[customers[0]]["as_of"] == later
