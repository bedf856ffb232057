"""The local FerretDB answers like MongoDB for the operations the services rely on."""

from __future__ import annotations

import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.mongo import Collection, MongoClient, database
from shared.settings import ConnectionSettings
from tests.conftest import unique


@pytest.fixture
def collection(mongo_client: MongoClient, connection: ConnectionSettings) -> Collection:
    return database(mongo_client, connection, "stack")[unique("docs")]


async def test_write_then_read(collection: Collection) -> None:
    await collection.insert_one({"_id": "c-1", "name": "保定枪手", "tags": ["insecticide"]})
    found = await collection.find_one({"_id": "c-1"})
    assert found == {"_id": "c-1", "name": "保定枪手", "tags": ["insecticide"]}


async def test_state_change_and_pending_event_in_one_atomic_update(collection: Collection) -> None:
    await collection.insert_one({"_id": "c-2", "version": 1, "grade": "B", "outbox": []})
    updated = await collection.find_one_and_update(
        {"_id": "c-2", "version": 1},
        {
            "$set": {"grade": "A"},
            "$inc": {"version": 1},
            "$push": {"outbox": {"id": "e-1", "type": "crm.customer.updated.v1"}},
        },
        return_document=ReturnDocument.AFTER,
    )
    assert updated is not None
    assert updated["grade"] == "A" and updated["version"] == 2
    assert [e["id"] for e in updated["outbox"]] == ["e-1"]

    await collection.find_one_and_update(
        {"_id": "c-2"}, {"$push": {"outbox": {"id": "e-2", "type": "x"}}}
    )
    # FerretDB 1.24's $pull matches whole values only (no conditions such as {"id": ...}),
    # so the relay removes the exact pending documents it published with $pullAll.
    published = updated["outbox"]
    relayed = await collection.find_one_and_update(
        {"_id": "c-2"},
        {"$pullAll": {"outbox": published}},
        return_document=ReturnDocument.AFTER,
    )
    assert relayed is not None
    assert [e["id"] for e in relayed["outbox"]] == ["e-2"]

    stale = await collection.find_one_and_update(
        {"_id": "c-2", "version": 1}, {"$set": {"grade": "C"}}
    )
    assert stale is None, "a guarded update on an old version must not match"


async def test_unique_index_violation_is_a_clear_error(collection: Collection) -> None:
    await collection.create_index("erp_code", unique=True)
    await collection.insert_one({"_id": "a", "erp_code": "ERP-001"})
    with pytest.raises(DuplicateKeyError) as caught:
        await collection.insert_one({"_id": "b", "erp_code": "ERP-001"})
    assert caught.value.code == 11000


async def test_many_single_document_updates_go_through_in_small_commands(
    collection: Collection,
) -> None:
    # One `update` command with ~100 statements deadlocks FerretDB 1.24 (see shared.mongo).
    from pymongo import UpdateOne

    from shared.mongo import bulk_update

    await collection.insert_many([{"_id": n, "outbox": [{"id": n}]} for n in range(250)])
    modified = await bulk_update(
        collection,
        [UpdateOne({"_id": n}, {"$pullAll": {"outbox": [{"id": n}]}}) for n in range(250)],
    )
    assert modified == 250
    assert await collection.count_documents({"outbox": []}) == 250


async def test_lookups_by_id_use_the_id_index(
    mongo_client: MongoClient, connection: ConnectionSettings
) -> None:
    # Our FerretDB build fixes its _id lookup expression (shared/stack/ferretdb.py); without
    # it every lookup and update by _id scans the whole table.
    db = database(mongo_client, connection, "stack")
    name = unique("explained")
    await db[name].insert_one({"_id": "C-1"})
    plan = await db.command("explain", {"find": name, "filter": {"_id": "C-1"}})
    if "ferretdbVersion" not in plan.get("serverInfo", {}):
        pytest.skip("not FerretDB")
    assert any("USING INDEX" in step for step in plan["queryPlanner"]["Plan"]), plan
