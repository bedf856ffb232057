"""The customer archive over HTTP on the real stack: create, read, change with ETags, delete."""

from __future__ import annotations

import asyncio
import json

import httpx

from services.customer.store import CustomerStore
from shared.auth import Role
from shared.settings import ConnectionSettings
from shared.topics import CUSTOMER
from tests.conftest import bearer, unique
from tests.integration.customer.conftest import create, customer_body
from tests.integration.messaging_support import TopicTail, header


async def test_create_normalises_and_get_returns_it_with_etag(client: httpx.AsyncClient) -> None:
    created = await create(client, phones=["138 0013-8000", "+86 13800138000"])
    body = created.json()
    assert created.headers["ETag"] == '"1"'
    assert body["version"] == 1
    assert body["phones"] == ["+8613800138000"]
    assert body["emails"][0] == body["emails"][0].lower()
    assert body["contacts"][0]["phones"] == ["+8613900000001"]
    fetched = await client.get(f"/v1/customers/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == '"1"'
    assert fetched.json() == body


async def test_get_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/v1/customers/{unique('cus')}")).status_code == 404


async def test_patch_needs_if_match_and_changes_only_what_was_sent(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client)
    url = f"/v1/customers/{created.json()['id']}"
    missing = await client.patch(url, json={"tier": "first_tier"})
    assert missing.status_code == 428
    patched = await client.patch(
        url, json={"tier": "first_tier"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    assert patched.json()["tier"] == "first_tier"
    assert patched.json()["name"] == created.json()["name"]
    assert patched.json()["phones"] == created.json()["phones"]
    # Nothing changes: nothing is written, the version stays.
    same = await client.patch(
        url, json={"tier": "first_tier"}, headers={"If-Match": patched.headers["ETag"]}
    )
    assert same.status_code == 200
    assert same.headers["ETag"] == '"2"'


async def test_stale_etag_gets_412_and_nothing_is_lost(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/v1/customers/{created.json()['id']}"
    stale = created.headers["ETag"]
    first = await client.patch(url, json={"tier": "second_tier"}, headers={"If-Match": stale})
    assert first.status_code == 200
    second = await client.patch(url, json={"owner": "zhao.min"}, headers={"If-Match": stale})
    assert second.status_code == 412
    assert second.headers["ETag"] == '"2"'
    current = (await client.get(url)).json()
    assert (current["tier"], current["owner"]) == ("second_tier", created.json()["owner"])
    retried = await client.patch(
        url, json={"owner": "zhao.min"}, headers={"If-Match": second.headers["ETag"]}
    )
    assert retried.status_code == 200
    assert (retried.json()["tier"], retried.json()["owner"]) == ("second_tier", "zhao.min")


async def test_concurrent_patches_with_one_etag_one_wins(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/v1/customers/{created.json()['id']}"
    etag = created.headers["ETag"]
    answers = await asyncio.gather(
        *(
            client.patch(url, json={"notes": f"note {n}"}, headers={"If-Match": etag})
            for n in range(8)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [412] * 7
    winner = next(answer for answer in answers if answer.status_code == 200)
    current = await client.get(url)
    assert current.json()["notes"] == winner.json()["notes"]
    assert current.headers["ETag"] == '"2"'


async def test_duplicate_erp_code_is_409_naming_the_field(client: httpx.AsyncClient) -> None:
    first = await create(client)
    erp = first.json()["external_ids"]["erp"]
    again = await client.post("/v1/customers", json=customer_body(external_ids={"erp": erp}))
    assert again.status_code == 409
    detail = again.json()["detail"]
    assert detail["field"] == "external_ids.erp"
    assert detail["customer_id"] == first.json()["id"]
    # Taking another customer's code by PATCH is refused too; freeing it lets others use it.
    other = await create(client)
    taken = await client.patch(
        f"/v1/customers/{other.json()['id']}",
        json={"external_ids": {"erp": erp}},
        headers={"If-Match": other.headers["ETag"]},
    )
    assert taken.status_code == 409
    freed = await client.patch(
        f"/v1/customers/{first.json()['id']}",
        json={"external_ids": {"erp": unique("C")}},
        headers={"If-Match": first.headers["ETag"]},
    )
    assert freed.status_code == 200
    moved = await client.patch(
        f"/v1/customers/{other.json()['id']}",
        json={"external_ids": {"erp": erp}},
        headers={"If-Match": other.headers["ETag"]},
    )
    assert moved.status_code == 200, moved.text


async def test_soft_delete_hides_the_customer(client: httpx.AsyncClient) -> None:
    created = await create(client)
    url = f"/v1/customers/{created.json()['id']}"
    assert (await client.delete(url)).status_code == 428
    deleted = await client.delete(url, headers={"If-Match": created.headers["ETag"]})
    assert deleted.status_code == 204
    assert (await client.get(url)).status_code == 410
    erp = created.json()["external_ids"]["erp"]
    found = await client.get("/v1/customers", params={"q": erp})
    assert found.json()["items"] == []
    # A deleted customer's data is still there, so erasure still works on it.
    erased = await client.post(f"{url}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["phones"] == []


async def test_history_shows_who_changed_what_before_and_after(
    client: httpx.AsyncClient, store: CustomerStore
) -> None:
    created = await create(client, tier="third_tier")
    url = f"/v1/customers/{created.json()['id']}"
    patched = await client.patch(
        url,
        json={"tier": "first_tier", "tags": ["aerosol", "vip"]},
        headers={"If-Match": created.headers["ETag"], **bearer(Role.AGENT, "wang.lei")},
    )
    assert patched.status_code == 200
    pending = (await client.get(f"{url}/history")).json()["entries"]
    await store.move_audit()
    moved = (await client.get(f"{url}/history")).json()["entries"]
    assert moved == pending
    assert [entry["action"] for entry in moved] == ["created", "updated"]
    update = moved[1]
    assert update["actor"] == "account:wang.lei"
    assert update["version"] == 2
    assert update["changes"] == [
        {"field": "tags", "before": ["aerosol"], "after": ["aerosol", "vip"]},
        {"field": "tier", "before": "third_tier", "after": "first_tier"},
    ]
    assert await store.audit.count_documents({"customer_id": created.json()["id"]}) == 2
    doc = await store.customers.find_one({"_id": created.json()["id"]})
    assert doc is not None
    assert (doc["audit_pending"], doc["audit_pending_count"]) == ([], 0)


async def test_create_and_update_are_published(
    client: httpx.AsyncClient, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, CUSTOMER.name)
    await tail.mark()
    created = await create(client)
    customer_id = created.json()["id"]
    await client.patch(
        f"/v1/customers/{customer_id}",
        json={"grade_override": "A"},
        headers={"If-Match": created.headers["ETag"], **bearer(Role.AGENT, "wang.lei")},
    )
    records = await tail.read(
        lambda got: len(got) >= 2, keep=lambda record: record.key == customer_id.encode()
    )
    types = [header(record, "ce_type") for record in records]
    assert types == ["crm.customer.created.v1", "crm.customer.updated.v1"]
    created_data = json.loads(records[0].value)
    assert created_data["profile"]["external_ids"] == created.json()["external_ids"]
    assert created_data["profile"]["phones"] == created.json()["phones"]
    updated_data = json.loads(records[1].value)
    assert updated_data["changed_fields"] == ["grade_override"]
    assert updated_data["profile"]["grade_override"] == "A"
    assert header(records[1], "ce_actor") == "account:wang.lei"
