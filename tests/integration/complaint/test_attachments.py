"""Attachment metadata on the real stack: on create and added later, validated field by field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.complaint.conftest import complaint_body

SHA = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"


def attachment(**overrides: Any) -> dict[str, Any]:
    return {
        "file_name": "valve 照片.jpg",
        "content_type": "image/JPEG",
        "size_bytes": 284113,
        "sha256": SHA,
        "storage_ref": "https://files.example.cn/complaints/2411/valve.jpg",
    } | overrides


async def test_attachments_on_create_and_added_later(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/complaints", json=complaint_body(attachments=[attachment()]))
    assert created.status_code == 201, created.text
    [first] = created.json()["attachments"]
    assert first["content_type"] == "image/jpeg" and first["sha256"] == SHA.lower()
    assert first["uploaded_by"] == "account:test-admin"
    assert first["uploaded_at"] == created.json()["reported_at"]
    assert first["id"].startswith("att-")

    url = f"/v1/complaints/{created.json()['id']}/attachments"
    report = attachment(
        file_name="lab-report.pdf",
        content_type="application/pdf",
        sha256="b" * 64,
        storage_ref="dms:complaints/2411/lab-report-v2.pdf",
    )
    added = await client.post(url, json=report)  # no If-Match needed: it only adds
    assert added.status_code == 201, added.text
    assert [a["file_name"] for a in added.json()["attachments"]] == [
        "valve 照片.jpg",
        "lab-report.pdf",
    ]
    # The same file at the same place again: recorded once.
    again = await client.post(url, json=report)
    assert again.status_code == 201
    assert len(again.json()["attachments"]) == 2
    assert again.json()["version"] == added.json()["version"]
    fetched = (await client.get(f"/v1/complaints/{created.json()['id']}")).json()
    assert fetched["attachments"] == again.json()["attachments"]

    missing = await client.post("/v1/complaints/cmp-nope/attachments", json=report)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size_bytes", 0),
        ("size_bytes", 100 * 1024 * 1024 + 1),
        ("content_type", "jpeg"),
        ("content_type", "image/jpeg; charset=x"),
        ("sha256", "abc"),
        ("storage_ref", "http://files.example.cn/a.jpg"),
        ("storage_ref", "ftp://files.example.cn/a.jpg"),
        ("storage_ref", "https:///no-host"),
        ("storage_ref", "../../etc/passwd"),
        ("storage_ref", "a key with spaces"),
        ("file_name", "../secret.jpg"),
        ("file_name", ""),
    ],
)
async def test_bad_attachment_is_422_naming_the_field(
    client: httpx.AsyncClient, field: str, value: Any
) -> None:
    on_create = await client.post(
        "/v1/complaints", json=complaint_body(attachments=[attachment(**{field: value})])
    )
    assert on_create.status_code == 422, on_create.text
    assert on_create.json()["detail"][0]["loc"] == ["body", "attachments", 0, field]

    created = await client.post("/v1/complaints", json=complaint_body())
    later = await client.post(
        f"/v1/complaints/{created.json()['id']}/attachments", json=attachment(**{field: value})
    )
    assert later.status_code == 422, later.text
    assert later.json()["detail"][0]["loc"] == ["body", field]
