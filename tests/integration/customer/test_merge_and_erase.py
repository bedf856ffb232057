"""Duplicate candidates, merge into a survivor, and erasure — on the real stack."""

from __future__ import annotations

import json

import httpx

from services.customer.store import CustomerStore
from shared.settings import ConnectionSettings
from shared.topics import CUSTOMER
from tests.conftest import unique
from tests.integration.customer.conftest import create, uuid_digits
from tests.integration.messaging_support import TopicTail, header


async def test_duplicates_by_phone_email_external_id_and_similar_name(
    client: httpx.AsyncClient,
) -> None:
    marker = unique("d").split("-")[1]
    digits = uuid_digits()
    phone = f"139{digits}"
    email = f"buyer.{marker}@dup.example.cn"
    name = f"东莞{marker}气雾剂股份有限公司"
    original = (
        await create(client, name=name, phones=[phone], emails=[email], name_latin=None)
    ).json()
    by_phone = (
        await create(client, name=f"甲{marker}", phones=[f"+86 {phone}"], name_latin=None)
    ).json()
    by_email = (
        await create(client, name=f"乙{marker}", emails=[email.upper()], name_latin=None)
    ).json()
    by_name = (await create(client, name=f"东莞{marker}气雾剂", name_latin=None)).json()
    unrelated = (await create(client, name=f"丙{marker}", name_latin=None)).json()
    response = await client.get(f"/v1/customers/{original['id']}/duplicates")
    assert response.status_code == 200, response.text
    reasons = {c["customer"]["id"]: c["reasons"] for c in response.json()["candidates"]}
    assert reasons[by_phone["id"]] == [f"phone:+86{phone}"]
    assert reasons[by_email["id"]] == [f"email:{email}"]
    assert reasons[by_name["id"]] == ["similar_name"]
    assert unrelated["id"] not in reasons
    assert original["id"] not in reasons


async def test_merge_moves_data_to_the_survivor_and_merged_ids_resolve(
    client: httpx.AsyncClient, connection: ConnectionSettings, store: CustomerStore
) -> None:
    tail = TopicTail(connection, CUSTOMER.name)
    await tail.mark()
    survivor = await create(client, tags=["aerosol"], tier=None, external_ids={})
    merged = await create(client, tags=["vip"], tier="first_tier")
    survivor_id, merged_id = survivor.json()["id"], merged.json()["id"]
    erp = merged.json()["external_ids"]["erp"]

    refused = await client.post(
        f"/v1/customers/{survivor_id}/merge",
        json={"merged_ids": [survivor_id]},
        headers={"If-Match": survivor.headers["ETag"]},
    )
    assert refused.status_code == 422
    answer = await client.post(
        f"/v1/customers/{survivor_id}/merge",
        json={"merged_ids": [merged_id]},
        headers={"If-Match": survivor.headers["ETag"]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tags"] == ["aerosol", "vip"]
    assert body["tier"] == "first_tier"
    assert body["external_ids"] == {"erp": erp}
    assert set(merged.json()["phones"]) <= set(body["phones"])

    resolved = await client.get(f"/v1/customers/{merged_id}")
    assert resolved.status_code == 200
    assert resolved.json()["id"] == survivor_id
    assert resolved.headers["Content-Location"] == f"/v1/customers/{survivor_id}"
    # Changes to a merged id are refused, naming the survivor.
    patch = await client.patch(
        f"/v1/customers/{merged_id}", json={"tier": "x"}, headers={"If-Match": "*"}
    )
    assert patch.status_code == 409
    assert patch.json()["detail"]["merged_into"] == survivor_id
    # The survivor is found by the merged customer's ERP code and holds the code now.
    assert [
        c["id"] for c in (await client.get("/v1/customers", params={"q": erp})).json()["items"]
    ] == [survivor_id]
    holder = await store.keys.find_one({"_id": f"erp:{erp}"})
    assert holder is not None and holder["customer_id"] == survivor_id
    # A retried merge is safe and adds nothing.
    again = await client.post(
        f"/v1/customers/{survivor_id}/merge",
        json={"merged_ids": [merged_id]},
        headers={"If-Match": answer.headers["ETag"]},
    )
    assert again.status_code == 200
    assert again.json()["tags"] == ["aerosol", "vip"]

    history = (await client.get(f"/v1/customers/{survivor_id}/history")).json()["entries"]
    assert history[1]["action"] == "merged"
    assert {"field": "merged_ids", "before": None, "after": [merged_id]} in history[1]["changes"]

    records = await tail.read(
        lambda got: any(header(r, "ce_type") == "crm.customer.merged.v1" for r in got),
        keep=lambda record: record.key == survivor_id.encode(),
    )
    merged_event = next(r for r in records if header(r, "ce_type") == "crm.customer.merged.v1")
    data = json.loads(merged_event.value)
    assert data["merged_ids"] == [merged_id]
    assert data["profile"]["external_ids"] == {"erp": erp}


async def test_erase_removes_personal_data_everywhere_and_is_published(
    client: httpx.AsyncClient, connection: ConnectionSettings, store: CustomerStore
) -> None:
    tail = TopicTail(connection, CUSTOMER.name)
    await tail.mark()
    created = await create(client, kind="person", name="王小明", notes="likes tea")
    customer_id = created.json()["id"]
    patched = await client.patch(
        f"/v1/customers/{customer_id}",
        json={"emails": ["wang.xm@example.cn"]},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert patched.status_code == 200
    await store.move_audit()  # some history moved, the erasure's own entry still pending
    erased = await client.post(
        f"/v1/customers/{customer_id}/erase", json={"reason": "PIPL request 42"}
    )
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert body["name"] == "[erased]"
    assert (body["name_latin"], body["notes"]) == (None, None)
    assert (body["phones"], body["emails"], body["contacts"]) == ([], [], [])
    assert body["erased_at"] is not None
    assert body["external_ids"] == created.json()["external_ids"]
    assert (await client.get("/v1/customers", params={"q": "王小明"})).json()["items"] == []

    for moved in (False, True):
        if moved:
            await store.move_audit()
        history = (await client.get(f"/v1/customers/{customer_id}/history")).json()
        text = json.dumps(history, ensure_ascii=False)
        for personal in ("王小明", "wang.xm@example.cn", "likes tea", created.json()["phones"][0]):
            assert personal not in text, (moved, personal)
        assert [entry["action"] for entry in history["entries"]] == [
            "created",
            "updated",
            "erased",
        ]
    raw = await store.customers.find_one({"_id": customer_id})
    assert raw is not None
    assert "王小明" not in json.dumps(raw["search_text"], ensure_ascii=False)

    records = await tail.read(
        lambda got: any(header(r, "ce_type") == "crm.customer.erased.v1" for r in got),
        keep=lambda record: record.key == customer_id.encode(),
    )
    erased_event = next(r for r in records if header(r, "ce_type") == "crm.customer.erased.v1")
    assert json.loads(erased_event.value)["reason"] == "PIPL request 42"
