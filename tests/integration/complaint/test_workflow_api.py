"""The complaint workflow over HTTP on the real stack: create, act with ETags, refuse clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.settings import ConnectionSettings
from shared.topics import COMPLAINT
from tests.conftest import unique
from tests.integration.complaint.conftest import complaint_body
from tests.integration.messaging_support import TopicTail

RESOLUTION = {
    "validity": "upheld",
    "root_cause": "quality",
    "corrective_action": "Valve supplier audited; crimping height re-set",
}


async def create(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    response = await client.post("/v1/complaints", json=complaint_body(**overrides))
    assert response.status_code == 201, response.text
    return response


async def act(
    client: httpx.AsyncClient, complaint: httpx.Response, action: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/complaints/{complaint.json()['id']}/{action}",
        json=body or None,
        headers={"If-Match": complaint.headers["ETag"]},
    )


async def test_create_returns_the_complaint_with_sla_due_times(client: httpx.AsyncClient) -> None:
    # Monday 10:00 in Shanghai: a high complaint's first response is due 4 business hours on.
    reported = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    created = await create(client, reported_at=reported.isoformat())
    body = created.json()
    assert body["state"] == "new"
    assert body["allowed_transitions"] == ["acknowledged"]
    assert body["version"] == 1
    assert created.headers["ETag"] == '"1"'
    assert body["first_response_due"] == "2026-11-16T06:00:00Z"
    # 16 business hours: 8 left on Monday, 8 more on Tuesday → Tuesday 17:00 local.
    assert body["resolution_due"] == "2026-11-17T09:00:00Z"
    fetched = await client.get(f"/v1/complaints/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert fetched.headers["ETag"] == '"1"'


async def test_create_is_idempotent_by_external_id(client: httpx.AsyncClient) -> None:
    body = complaint_body(external_id=unique("ext"))
    first = await client.post("/v1/complaints", json=body)
    again = await client.post("/v1/complaints", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


async def test_full_workflow_emits_its_events(
    client: httpx.AsyncClient, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, COMPLAINT.name)
    await tail.mark()
    complaint = await create(client)
    customer = complaint.json()["customer_id"]
    complaint = await act(client, complaint, "acknowledge")
    assert complaint.status_code == 200, complaint.text
    assert complaint.json()["first_response_at"] is not None
    complaint = await act(client, complaint, "start")
    complaint = await act(client, complaint, "resolve", **RESOLUTION)
    assert complaint.status_code == 200, complaint.text
    assert complaint.json()["resolution"] == RESOLUTION
    complaint = await act(client, complaint, "close")
    assert complaint.status_code == 200, complaint.text
    assert complaint.json()["state"] == "closed"
    assert complaint.json()["allowed_transitions"] == ["reopened"]
    assert complaint.headers["ETag"] == '"5"'

    expected = [
        "crm.complaint.opened.v1",
        "crm.complaint.status_changed.v1",
        "crm.complaint.acknowledged.v1",
        "crm.complaint.status_changed.v1",
        "crm.complaint.status_changed.v1",
        "crm.complaint.resolved.v1",
        "crm.complaint.status_changed.v1",
        "crm.complaint.closed.v1",
    ]
    records = await tail.read(
        lambda got: len(got) >= len(expected), keep=lambda r: r.key == customer.encode()
    )
    assert [dict(r.headers)["ce_type"].decode() for r in records] == expected


async def test_illegal_transition_is_409_with_the_allowed_ones(client: httpx.AsyncClient) -> None:
    complaint = await create(client)
    refused = await act(client, complaint, "close")
    assert refused.status_code == 409
    assert refused.json()["state"] == "new"
    assert refused.json()["allowed"] == ["acknowledged"]
    refused = await act(client, complaint, "resume")
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["acknowledged"]


async def test_stale_etag_is_412_and_missing_is_428(client: httpx.AsyncClient) -> None:
    complaint = await create(client)
    assert (await act(client, complaint, "acknowledge")).status_code == 200
    stale = await act(client, complaint, "start")
    assert stale.status_code == 412
    assert stale.headers["ETag"] == '"2"'
    missing = await client.post(f"/v1/complaints/{complaint.json()['id']}/start")
    assert missing.status_code == 428


async def test_bad_input_is_422(client: httpx.AsyncClient) -> None:
    for body in (
        complaint_body(colour="red"),
        complaint_body(severity="apocalyptic"),
        complaint_body(category="delivery", subcategory="leakage"),
        complaint_body(reported_at="2026-11-16T10:00:00"),  # no time zone
        complaint_body(reported_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
    ):
        response = await client.post("/v1/complaints", json=body)
        assert response.status_code == 422, body
    mismatch = await client.post(
        "/v1/complaints", json=complaint_body(category="delivery", subcategory="leakage")
    )
    assert "leakage is not a subcategory of delivery" in mismatch.json()["detail"]


async def test_resolve_needs_a_corrective_action_when_upheld(client: httpx.AsyncClient) -> None:
    complaint = await act(client, await create(client), "acknowledge")
    complaint = await act(client, complaint, "start")
    missing = await act(client, complaint, "resolve", validity="upheld", root_cause="quality")
    assert missing.status_code == 422
    unknown = await act(client, complaint, "resolve", **RESOLUTION, blame="nobody")
    assert unknown.status_code == 422


async def test_waiting_for_the_customer_pauses_the_resolution_clock(
    client: httpx.AsyncClient,
) -> None:
    complaint = await act(client, await create(client), "acknowledge")
    complaint = await act(client, complaint, "start")
    complaint = await act(client, complaint, "wait-for-customer")
    assert complaint.json()["sla_paused"] is True
    assert complaint.json()["resolution_due"] is None
    complaint = await act(client, complaint, "resume")
    assert complaint.json()["state"] == "in_progress"
    assert complaint.json()["sla_paused"] is False
    assert complaint.json()["resolution_due"] is not None


async def test_reopen_escalate_assign_and_comment(client: httpx.AsyncClient) -> None:
    complaint = await act(client, await create(client), "assign", assignee="li.wei", team="qa")
    assert complaint.json()["assignee"] == "li.wei"
    complaint = await act(client, complaint, "escalate", reason="key account")
    assert complaint.json()["escalation_level"] == 1
    complaint = await act(client, complaint, "acknowledge")
    complaint = await act(client, complaint, "start")
    complaint = await act(client, complaint, "resolve", **RESOLUTION)
    refused = await act(client, complaint, "escalate")
    assert refused.status_code == 409
    complaint = await act(client, complaint, "reopen", reason="leaks again")
    assert complaint.json()["state"] == "reopened"
    assert complaint.json()["reopen_count"] == 1
    commented = await client.post(
        f"/v1/complaints/{complaint.json()['id']}/comments",
        json={"body": "Called the customer", "visibility": "external"},
    )
    assert commented.status_code == 201
    comments = commented.json()["comments"]
    assert [c["body"] for c in comments] == ["escalated: key account", "Called the customer"]


async def test_list_filters_and_paginates_by_cursor(client: httpx.AsyncClient) -> None:
    customer = unique("cust")
    ids = {(await create(client, customer_id=customer)).json()["id"] for _ in range(3)}
    await create(client, customer_id=customer, severity="low")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"customer_id": customer, "severity": "high", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/complaints", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    bad = await client.get("/v1/complaints", params={"state": "lost"})
    assert bad.status_code == 422


async def test_unknown_complaint_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/complaints/cmp-missing")).status_code == 404


async def test_reopen_after_the_window_is_409_without_reopened(client: httpx.AsyncClient) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    complaint = await create(client, reported_at=long_ago.isoformat())
    for action in ("acknowledge", "start"):
        complaint = await act(client, complaint, action, at=long_ago.isoformat())
    complaint = await act(client, complaint, "resolve", at=long_ago.isoformat(), **RESOLUTION)
    assert complaint.status_code == 200, complaint.text
    refused = await act(client, complaint, "reopen")
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["closed"]
    early = await act(client, complaint, "close", at=(long_ago - timedelta(days=1)).isoformat())
    assert early.status_code == 422  # before the resolution: out of order


async def test_if_match_star_skips_the_version_check(client: httpx.AsyncClient) -> None:
    complaint = await create(client)
    response = await client.post(
        f"/v1/complaints/{complaint.json()['id']}/acknowledge", headers={"If-Match": "*"}
    )
    assert response.status_code == 200
    before_report = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    refused = await act(client, response, "start", at=before_report)
    assert refused.status_code == 422
