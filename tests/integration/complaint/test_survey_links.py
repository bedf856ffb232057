"""The customer's survey link on the real stack: issued on resolve, answered once without an
account, expiring, voided by a reopen, and emitting the same event as the agent's path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.complaint.app import create_app
from services.complaint.settings import Settings
from services.complaint.store import ComplaintStore
from shared.auth import Role
from shared.events import utc_now
from shared.settings import ConnectionSettings
from shared.topics import COMPLAINT
from tests.conftest import bearer, unique
from tests.integration.complaint.conftest import complaint_body
from tests.integration.messaging_support import TopicTail

BASE_URL = "https://survey.example.cn/s"


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    settings = Settings(
        **connection.model_dump(),
        sla_check_interval_s=0,
        customers_enabled=False,
        survey_base_url=BASE_URL,
        survey_valid_days=1,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def public(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A caller without any credentials: the customer opening the link."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://complaint") as http:
        yield http


async def resolved(
    client: httpx.AsyncClient, *, resolved_ago: timedelta, customer: str | None = None
) -> httpx.Response:
    """A complaint reported an hour before `resolved_ago` and resolved then (event times)."""
    resolved_at = utc_now() - resolved_ago
    body = complaint_body(
        customer_id=customer or unique("cust"),
        reported_at=(resolved_at - timedelta(hours=1)).isoformat(),
        description="Mr Wang's private notes",
    )
    complaint = await client.post("/v1/complaints", json=body)
    assert complaint.status_code == 201, complaint.text
    for action, extra in (
        ("acknowledge", {}),
        ("start", {}),
        ("resolve", {"validity": "upheld", "root_cause": "quality", "corrective_action": "fix"}),
    ):
        complaint = await client.post(
            f"/v1/complaints/{complaint.json()['id']}/{action}",
            json={"at": resolved_at.isoformat(), **extra},
            headers={"If-Match": complaint.headers["ETag"]},
        )
        assert complaint.status_code == 200, complaint.text
    return complaint


def token_of(link: str) -> str:
    assert link.startswith(BASE_URL + "/")
    return link.removeprefix(BASE_URL + "/")


async def test_link_answered_once_with_the_agents_event(
    client: httpx.AsyncClient,
    public: httpx.AsyncClient,
    connection: ConnectionSettings,
    store: ComplaintStore,
) -> None:
    tail = TopicTail(connection, COMPLAINT.name)
    await tail.mark()
    complaint = await resolved(client, resolved_ago=timedelta(minutes=30))
    body = complaint.json()
    token = token_of(body["survey_link"])
    assert body["survey_open_until"] is not None
    # Only the token's hash is stored.
    stored_doc = await store.get(body["id"])
    assert stored_doc is not None and token not in str(stored_doc)
    assert token not in str([doc async for doc in store.survey_links.find({})])
    # Shown once: reading the complaint again does not reveal the link.
    again = (await client.get(f"/v1/complaints/{body['id']}")).json()
    assert again["survey_link"] is None
    assert again["survey_open_until"] == body["survey_open_until"]

    shown = await public.get(f"/v1/surveys/{token}")
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert view["reference"] == body["id"]
    assert view["category"] == "product_quality" and view["subcategory"] == "leakage"
    assert view["resolved_at"] == body["resolved_at"]
    assert view["open_until"] == body["survey_open_until"]
    assert "en" in view["question"] and "zh" in view["question"]
    text = json.dumps(view)
    for internal in (body["customer_id"], "Mr Wang", "fix", "SO-1001", "agent"):
        assert internal not in text

    too_long = await public.post(f"/v1/surveys/{token}", json={"score": 4, "comment": "x" * 2001})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "comment"]
    assert (await public.post(f"/v1/surveys/{token}", json={"score": 0})).status_code == 422
    answered = await public.post(f"/v1/surveys/{token}", json={"score": 4, "comment": "快"})
    assert answered.status_code == 201, answered.text
    assert answered.json() == {"reference": body["id"], "status": "answered"}
    assert (await public.post(f"/v1/surveys/{token}", json={"score": 5})).status_code == 409
    assert (await public.post(f"/v1/surveys/{token}/skip")).status_code == 409
    assert (await public.get(f"/v1/surveys/{token}")).status_code == 409
    # The agent's path sees the same single survey.
    assert (
        await client.post(f"/v1/complaints/{body['id']}/survey", json={"score": 1})
    ).status_code == 409
    stored = (await client.get(f"/v1/complaints/{body['id']}")).json()
    assert stored["survey"]["score"] == 4 and stored["survey"]["comment"] == "快"
    assert stored["survey_open_until"] is None

    customer = body["customer_id"].encode()
    records = await tail.read(
        lambda got: any(dict(r.headers)["ce_type"] == b"crm.survey.answered.v1" for r in got),
        keep=lambda r: r.key == customer,
    )
    surveys = [r for r in records if dict(r.headers)["ce_type"] == b"crm.survey.answered.v1"]
    assert len(surveys) == 1
    data: dict[str, Any] = json.loads(surveys[0].value)
    assert data["complaint_id"] == body["id"]
    assert data["score"] == 4 and data["comment"] == "快"
    assert data["survey_id"] == stored["survey"]["id"]
    assert dict(surveys[0].headers)["ce_actor"] == b"customer"


async def test_skip_unknown_expired_and_reopen(
    client: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    skipped = await resolved(client, resolved_ago=timedelta(minutes=30))
    token = token_of(skipped.json()["survey_link"])
    answer = await public.post(f"/v1/surveys/{token}/skip")
    assert answer.status_code == 201 and answer.json()["status"] == "skipped"
    survey = (await client.get(f"/v1/complaints/{skipped.json()['id']}")).json()["survey"]
    assert survey["skipped"] is True and survey["score"] is None

    unknown = "A" * 43
    assert (await public.get(f"/v1/surveys/{unknown}")).status_code == 404
    assert (await public.post(f"/v1/surveys/{unknown}", json={"score": 3})).status_code == 404
    assert (await public.get("/v1/surveys/short")).status_code == 422

    # Resolved two days ago with links valid one day: gone, and nothing is recorded.
    old = await resolved(client, resolved_ago=timedelta(days=2))
    old_token = token_of(old.json()["survey_link"])
    assert (await public.get(f"/v1/surveys/{old_token}")).status_code == 410
    assert (await public.post(f"/v1/surveys/{old_token}", json={"score": 3})).status_code == 410
    assert (await client.get(f"/v1/complaints/{old.json()['id']}")).json()["survey"] is None
    # The agent can send a fresh link; the old one stays gone.
    fresh = await client.post(f"/v1/complaints/{old.json()['id']}/survey/link")
    assert fresh.status_code == 201, fresh.text
    fresh_token = token_of(fresh.json()["survey_link"])
    assert (await public.get(f"/v1/surveys/{old_token}")).status_code == 404
    assert (await public.get(f"/v1/surveys/{fresh_token}")).status_code == 200

    # Reopening voids the unanswered link; resolving again opens a new one.
    reopened = await client.post(
        f"/v1/complaints/{old.json()['id']}/reopen",
        headers={"If-Match": fresh.headers["ETag"]},
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["survey_open_until"] is None
    assert (await public.get(f"/v1/surveys/{fresh_token}")).status_code == 404
    link = await client.post(f"/v1/complaints/{old.json()['id']}/survey/link")
    assert link.status_code == 409  # not resolved now
    started = await client.post(
        f"/v1/complaints/{old.json()['id']}/start",
        headers={"If-Match": reopened.headers["ETag"]},
    )
    again = await client.post(
        f"/v1/complaints/{old.json()['id']}/resolve",
        json={"validity": "rejected", "root_cause": "misuse"},
        headers={"If-Match": started.headers["ETag"]},
    )
    assert again.status_code == 200, again.text
    new_token = token_of(again.json()["survey_link"])
    assert new_token not in (old_token, fresh_token)
    assert (await public.post(f"/v1/surveys/{new_token}", json={"score": 2})).status_code == 201


async def test_answered_survey_is_not_reopened_by_a_second_resolve(
    client: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    complaint = await resolved(client, resolved_ago=timedelta(minutes=30))
    token = token_of(complaint.json()["survey_link"])
    assert (await public.post(f"/v1/surveys/{token}", json={"score": 5})).status_code == 201
    complaint_id = complaint.json()["id"]
    current = await client.get(f"/v1/complaints/{complaint_id}")
    for action, body in (
        ("reopen", None),
        ("start", None),
        ("resolve", {"validity": "rejected", "root_cause": "expectation"}),
    ):
        current = await client.post(
            f"/v1/complaints/{complaint_id}/{action}",
            json=body,
            headers={"If-Match": current.headers["ETag"]},
        )
        assert current.status_code == 200, current.text
    assert current.json()["survey_link"] is None
    assert current.json()["survey"]["score"] == 5


async def test_survey_routes_need_no_credentials_but_agent_routes_do(
    public: httpx.AsyncClient,
) -> None:
    assert (await public.post("/v1/complaints/x/survey/link")).status_code == 401
    assert (await public.get(f"/v1/surveys/{'B' * 43}")).status_code == 404
    viewer = await public.post("/v1/complaints/x/survey/link", headers=bearer(Role.VIEWER))
    assert viewer.status_code == 403
