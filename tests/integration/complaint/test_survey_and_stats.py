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


async def test_stats_filtered_and_grouped_by_assignee_and_month(
    client: httpx.AsyncClient,
) -> None:
    customer = unique("cust")
    team = unique("team")
    handled_by: dict[str, list[str]] = {"li": [], "zhang": []}
    for assignee, acknowledged_hours in (("li", 1), ("li", 3), ("zhang", 2)):
        complaint = await handled(
            client,
            customer,
            acknowledged_after=timedelta(hours=acknowledged_hours),
            resolved_after=timedelta(hours=6),
            resolution={"validity": "rejected", "root_cause": "misuse"},
        )
        assigned = await act(client, complaint, "assign", assignee=assignee, team=team)
        handled_by[assignee].append(assigned.json()["id"])
    unassigned = await client.post("/v1/complaints", json=complaint_body(customer_id=customer))
    assert unassigned.status_code == 201

    response = await client.get(
        "/v1/complaints/stats", params={"customer_id": customer, "group_by": "assignee"}
    )
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["total"] == 4 and stats["group_by"] == "assignee"
    groups = {group["key"]: group for group in stats["groups"]}
    assert list(groups) == ["li", "zhang", None]
    assert groups["li"]["total"] == 2
    assert groups["li"]["median_first_response_s"] == 2 * 3600
    assert groups["zhang"]["median_first_response_s"] == 2 * 3600
    assert groups[None]["by_state"] == {"new": 1}

    by_team = await client.get(
        "/v1/complaints/stats", params={"team": team, "state": "resolved", "group_by": "month"}
    )
    team_stats = by_team.json()
    assert team_stats["total"] == 3
    # Reported a day ago: one month, or two when that day crosses a month's turn (UTC).
    months = [(group["key"], group["total"]) for group in team_stats["groups"]]
    reported = {(utc_now() - timedelta(days=1, hours=h)).strftime("%Y-%m") for h in (-6, 0)}
    assert {key for key, _ in months} <= reported
    assert sum(total for _, total in months) == 3
    li_only = await client.get("/v1/complaints/stats", params={"assignee": "li", "team": team})
    assert li_only.json()["total"] == 2 and li_only.json()["groups"] == []

    bad = await client.get("/v1/complaints/stats", params={"group_by": "customer"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "group_by"]
