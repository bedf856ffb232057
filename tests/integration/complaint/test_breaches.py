"""SLA breaches on the real stack: found on event time, recorded and emitted once, escalated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import ConsumerRecord

from services.complaint.breaches import check_breaches, new_breaches
from services.complaint.store import ComplaintStore
from shared.events import utc_now
from shared.settings import ConnectionSettings
from shared.topics import COMPLAINT
from tests.integration.complaint.conftest import complaint_body
from tests.integration.messaging_support import TopicTail


def types(records: list[ConsumerRecord]) -> list[str]:
    return [dict(r.headers)["ce_type"].decode() for r in records]


async def test_unanswered_complaint_breaches_once_and_escalates(
    client: httpx.AsyncClient, store: ComplaintStore, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, COMPLAINT.name)
    await tail.mark()
    now = utc_now()
    # Critical: first response due 1 h after the report on the wall clock, resolution 8 h.
    body = complaint_body(severity="critical", reported_at=(now - timedelta(hours=2)).isoformat())
    created = await client.post("/v1/complaints", json=body)
    assert created.status_code == 201
    complaint_id = created.json()["id"]
    customer = body["customer_id"].encode()

    assert await check_breaches(store, now=now) >= 1
    complaint = (await client.get(f"/v1/complaints/{complaint_id}")).json()
    assert [b["target"] for b in complaint["sla_breaches"]] == ["first_response"]
    assert complaint["escalation_level"] == 1

    records = await tail.read(lambda got: len(got) >= 3, keep=lambda r: r.key == customer)
    assert types(records) == [
        "crm.complaint.opened.v1",
        "crm.complaint.sla_breached.v1",
        "crm.complaint.escalated.v1",
    ]
    breach_headers = dict(records[1].headers)
    assert breach_headers["ce_time"].decode() == complaint["first_response_due"]

    # Checking again (also a little later) finds nothing new for this complaint.
    await check_breaches(store, now=now + timedelta(minutes=5))
    again = (await client.get(f"/v1/complaints/{complaint_id}")).json()
    assert again["escalation_level"] == 1
    assert len(again["sla_breaches"]) == 1
    assert again["version"] == complaint["version"]


def test_new_breaches_skips_targets_already_recorded() -> None:
    opened = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    doc: dict[str, Any] = {
        "_id": "cmp-1",
        "severity": "critical",
        "sla": {
            "opened_at": opened,
            "pauses": [],
            "paused_since": None,
            "first_response_at": None,
            "resolved_at": None,
        },
        "sla_breaches": [],
    }
    later = opened + timedelta(hours=9)
    found = new_breaches([doc], now=later)
    assert [b.target.value for b in found[0].breaches] == ["first_response", "resolution"]
    doc["sla_breaches"] = [{"target": "first_response"}]
    assert [b.target.value for b in new_breaches([doc], now=later)[0].breaches] == ["resolution"]
    assert new_breaches([doc], now=opened + timedelta(minutes=59)) == []
