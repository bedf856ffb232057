"""Listing, filtering, sorting, cursor pagination and search — each query shape on FerretDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.conftest import unique
from tests.integration.customer.conftest import create


async def _ids(client: httpx.AsyncClient, **params: str | int) -> list[str]:
    response = await client.get("/v1/customers", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_search_by_chinese_name_latin_name_phone_email_and_erp(
    client: httpx.AsyncClient,
) -> None:
    marker = unique("m").split("-")[1]
    chinese = f"佛山美{marker}包装"
    customer = (
        await create(
            client,
            name=chinese,
            name_latin=f"Foshan Mei {marker.upper()} Packaging",
            phones=["+86 757 8123 4567"],
            emails=[f"Sales.{marker}@MeiPack.example.cn"],
        )
    ).json()
    erp = customer["external_ids"]["erp"]
    assert customer["id"] in await _ids(client, q=f"美{marker}")
    assert customer["id"] in await _ids(client, q=chinese)
    assert customer["id"] in await _ids(client, q=f"mei {marker}")  # case-insensitive
    assert customer["id"] in await _ids(client, q=f"sales.{marker}@meipack")
    assert customer["id"] in await _ids(client, q=f"SALES.{marker}@MEIPACK.EXAMPLE.CN")
    assert await _ids(client, q=erp) == [customer["id"]]
    phone_hits = await _ids(client, q="0757-8123 4567"[1:], limit=200)
    assert customer["id"] in phone_hits
    assert customer["id"] in await _ids(client, q="+86 757 8123 4567", limit=200)
    # Regex metacharacters are searched literally.
    assert await _ids(client, q=f"{marker}.*") == []


async def test_search_finds_contacts(client: httpx.AsyncClient) -> None:
    marker = unique("c").split("-")[1]
    customer = (
        await create(client, contacts=[{"name": f"张伟{marker}", "emails": [f"zw{marker}@x.cn"]}])
    ).json()
    assert await _ids(client, q=f"张伟{marker}") == [customer["id"]]
    assert await _ids(client, q=f"zw{marker}@x.cn") == [customer["id"]]


async def test_filters_combine(client: httpx.AsyncClient) -> None:
    owner = unique("owner")
    a = (await create(client, owner=owner, tier="first_tier", tags=["aerosol", "vip"])).json()
    b = (
        await create(
            client,
            owner=owner,
            tier="second_tier",
            tags=["cans"],
            grade_override="A",
            key_account=False,
            relationship_stage="partner",
            region="zhejiang",
        )
    ).json()
    assert sorted(await _ids(client, owner=owner)) == sorted([a["id"], b["id"]])
    assert await _ids(client, owner=owner, tier="first_tier") == [a["id"]]
    assert await _ids(client, owner=owner, tag="vip") == [a["id"]]
    assert await _ids(client, owner=owner, grade_override="A") == [b["id"]]
    assert await _ids(client, owner=owner, key_account="false") == [b["id"]]
    assert await _ids(client, owner=owner, relationship_stage="partner") == [b["id"]]
    assert await _ids(client, owner=owner, region="zhejiang") == [b["id"]]
    assert await _ids(client, owner=owner, region="zhejiang", tag="vip") == []


async def test_cursor_pages_cover_everything_once_in_every_sort(
    client: httpx.AsyncClient,
) -> None:
    owner = unique("owner")
    names = ["丙", "甲", "乙", "丁", "甲"]  # a repeated name: ties broken by id
    created = [(await create(client, owner=owner, name=name)).json() for name in names]
    for sort in ("created_at", "-created_at", "name", "-name", "updated_at"):
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"owner": owner, "sort": sort, "limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = (await client.get("/v1/customers", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(c["id"] for c in created), sort
        assert len(seen) == len(set(seen)), sort
        field = sort.lstrip("-")
        # Timestamps as instants: the JSON drops a zero fraction ("…:57Z" beside "…:57.017Z"),
        # so as text a whole second sorts after its own milliseconds (CI, 2026-12-06).
        value: Any = datetime.fromisoformat if field.endswith("_at") else str
        keys = {c["id"]: (value(c[field]), c["id"]) for c in created}
        order = [keys[i] for i in seen]
        assert order == sorted(order, reverse=sort.startswith("-")), sort
