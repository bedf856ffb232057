"""Bad input gets a 4xx naming the field and the reason — never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.customer.conftest import create, customer_body


def _fields(response: httpx.Response) -> list[str]:
    return [".".join(str(part) for part in error["loc"]) for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "robot"}, "body.kind"),
        ({"key_account": "perhaps"}, "body.key_account"),
        ({"share_of_volume": 1.5}, "body.share_of_volume"),
        ({"share_of_volume": "lots"}, "body.share_of_volume"),
        ({"name": 42}, "body.name"),
        ({"name": "x" * 201}, "body.name"),
        ({"notes": "x" * 5001}, "body.notes"),
        ({"tags": ["x" * 65]}, "body.tags.0"),
        ({"phones": ["call me maybe"]}, "body.phones.0"),
        ({"phones": ["12345"]}, "body.phones.0"),
        ({"emails": ["not-an-email"]}, "body.emails.0"),
        ({"contacts": [{"name": "李娜", "emails": ["li@@x.cn"]}]}, "body.contacts.0.emails.0"),
        ({"external_ids": {"ERP.code": "C1"}}, "body.external_ids.ERP.code.[key]"),
        ({"grade_override": "D"}, "body.grade_override"),
        ({"favourite_colour": "red"}, "body.favourite_colour"),
        ({"customer_since": "2024-01-01T00:00:00"}, "body.customer_since"),
    ],
)
async def test_bad_create_is_422_naming_the_field(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/customers", json=customer_body(**overrides))
    assert response.status_code == 422, response.text
    assert field in _fields(response), response.json()


async def test_create_without_name_is_422(client: httpx.AsyncClient) -> None:
    body = customer_body()
    del body["name"]
    response = await client.post("/v1/customers", json=body)
    assert response.status_code == 422
    assert "name" in response.text


async def test_patch_refuses_null_for_required_fields_and_unknown_fields(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client)
    url = f"/v1/customers/{created.json()['id']}"
    headers = {"If-Match": created.headers["ETag"]}
    nulled = await client.patch(url, json={"name": None}, headers=headers)
    assert nulled.status_code == 422
    assert "name cannot be null" in nulled.text
    unknown = await client.patch(url, json={"nmae": "x"}, headers=headers)
    assert unknown.status_code == 422
    assert "body.nmae" in _fields(unknown)
    bad_phone = await client.patch(url, json={"phones": ["abc"]}, headers=headers)
    assert bad_phone.status_code == 422
    assert "body.phones.0" in _fields(bad_phone)
    # A cleared optional field is fine, and nothing above changed the customer.
    cleared = await client.patch(url, json={"name_latin": None}, headers=headers)
    assert cleared.status_code == 200
    assert cleared.json()["version"] == 2


async def test_bad_query_parameters_are_422(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/customers", params={"limit": 0})).status_code == 422
    assert (await client.get("/v1/customers", params={"sort": "colour"})).status_code == 422
    assert (await client.get("/v1/customers", params={"cursor": "garbage"})).status_code == 422
    assert (await client.get("/v1/customers", params={"q": "x" * 101})).status_code == 422


async def test_garbage_if_match_is_412(client: httpx.AsyncClient) -> None:
    created = await create(client)
    response = await client.patch(
        f"/v1/customers/{created.json()['id']}",
        json={"tier": "x"},
        headers={"If-Match": "not-an-etag"},
    )
    assert response.status_code == 412
