"""CSAT surveys (once per resolved complaint) and statistics computed from the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from shared.events import utc_now
from tests.conftest import unique
from tests.integration.complaint.conftest import complaint_body


async def act(
    client: httpx.AsyncClient, complaint: httpx.Response, action: str, **body: Any
) -> httpx.Response:
    response = await client.post(
        f"/v1/complaints/{complaint.json()['id']}/{action}",
        json=body or None,
        headers={"If-Match": complaint.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    return response


async def handled(
    client: httpx.AsyncClient,
    customer: str,
    *,
    acknowledged_after: timedelta,
    resolved_after: timedelta,
    resolution: dict[str, str],
) -> httpx.Response:
    reported = utc_now() - timedelta(days=1)
    complaint = await client.post(
        "/v1/complaints",
        json=complaint_body(customer_id=customer, reported_at=reported.isoformat()),
    )
    assert complaint.status_code == 201
    complaint = await act(
        client, complaint, "acknowledge", at=(reported + acknowledged_after).isoformat()
    )
    complaint = await act(
        client, complaint, "start", at=(reported + acknowledged_after).isoformat()
    )
    return await act(
        client, complaint, "resolve", at=(reported + resolved_after).isoformat(), **resolution
    )


async def test_survey_once_per_resolved_complaint(client: httpx.AsyncClient) -> None:
    open_one = await client.post("/v1/complaints", json=complaint_body())
    early = await client.post(f"/v1/complaints/{open_one.json()['id']}/survey", json={"score": 5})
    assert early.status_code == 409

    resolved = await handled(
        client,
        unique("cust"),
        acknowledged_after=timedelta(hours=1),
        resolved_after=timedelta(hours=2),
        resolution={"validity": "rejected", "root_cause": "misuse"},
    )
    url = f"/v1/complaints/{resolved.json()['id']}/survey"
    assert (await client.post(url, json={"score": 6})).status_code == 422
    assert (await client.post(url, json={"score": 4, "skipped": True})).status_code == 422
    answered = await client.post(url, json={"score": 4, "comment": "fast"})
    assert answered.status_code == 201
    assert answered.json()["survey"]["score"] == 4
    again = await client.post(url, json={"skipped": True})
    assert again.status_code == 409


async def test_stats_of_one_customer(client: httpx.AsyncClient) -> None:
    customer = unique("cust")
    first = await handled(
        client,
        customer,
        acknowledged_after=timedelta(hours=1),
        resolved_after=timedelta(hours=3),
        resolution={"validity": "upheld", "root_cause": "quality", "corrective_action": "fix"},
    )
    second = await handled(
        client,
        customer,
        acknowledged_after=timedelta(hours=3),
        resolved_after=timedelta(hours=5),
        resolution={"validity": "rejected", "root_cause": "misuse"},
    )
    await client.post(f"/v1/complaints/{first.json()['id']}/survey", json={"score": 4})
    await act(client, second, "reopen")

    response = await client.get("/v1/complaints/stats", params={"customer_id": customer})
    assert response.status_code == 200
    stats = response.json()
    assert stats["total"] == 2
    assert stats["by_category"] == {"product_quality": 2}
    assert stats["by_severity"] == {"high": 2}
    assert stats["by_state"] == {"resolved": 1, "reopened": 1}
    assert stats["median_first_response_s"] == 2 * 3600
    assert stats["median_resolution_s"] == 4 * 3600
    assert stats["breach_rate"] == 0.0
    assert stats["reopen_rate"] == 0.5
    assert stats["top_root_causes"] == [
        {"root_cause": "misuse", "count": 1},
        {"root_cause": "quality", "count": 1},
    ]
    assert stats["csat_average"] == 4.0

    future = (utc_now() + timedelta(days=1)).isoformat()
    empty = await client.get(
        "/v1/complaints/stats", params={"customer_id": customer, "from": future}
    )
    assert empty.json()["total"] == 0
    bad = await client.get("/v1/complaints/stats", params={"severity": "huge"})
    assert bad.status_code == 422
