"""The score upsert's query shapes on the real FerretDB: an older `as_of` never overwrites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.scoring.outputs import SCORES, upsert_score
from shared.mongo import MongoClient
from shared.settings import ConnectionSettings
from tests.conftest import unique

pytestmark = pytest.mark.stack

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_newer_wins_and_older_is_refused(
    mongo_client: MongoClient, connection: ConnectionSettings
) -> None:
    db = mongo_client[connection.mongo_database_prefix + unique("scoring").replace("-", "_")]
    customer = unique("cust")
    assert await upsert_score(db, {"_id": customer, "as_of": T0, "v": 1})
    assert await upsert_score(db, {"_id": customer, "as_of": T0 + timedelta(days=1), "v": 2})
    assert not await upsert_score(db, {"_id": customer, "as_of": T0, "v": 3})
    assert await upsert_score(db, {"_id": customer, "as_of": T0 + timedelta(days=1), "v": 4})
    stored = await db[SCORES].find_one({"_id": customer})
    assert stored is not None
    assert stored["v"] == 4
    assert stored["as_of"] == T0 + timedelta(days=1)
