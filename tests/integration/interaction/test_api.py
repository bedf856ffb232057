"""The interaction API on the real stack: record, dedupe, batch, refuse clearly, emit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from services.interaction.app import create_app
from services.interaction.settings import Settings
from services.interaction.store import ActivityStore
from shared.settings import ConnectionSettings
from shared.topics import INTERACTION
from tests.conftest import bearer, unique
from tests.integration.interaction.conftest import hours_ago, interaction_body, order_body
from tests.integration.messaging_support import TopicTail, header


async def test_single_interaction_then_duplicate(
    client: httpx.AsyncClient, store: ActivityStore
) -> None:
    body = interaction_body()
    first = await client.post("/v1/interactions", json=body)
    again = await client.post("/v1/interactions", json=body)
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json()["status"] == "accepted"
    assert again.json()["status"] == "duplicate"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["event_id"] == first.json()["event_id"]
    stored = await store.of_customer(body["customer_id"])
    assert len(stored) == 1
    assert stored[0]["summary"] == body["summary"]


async def test_interaction_event_on_kafka_keyed_by_customer(
    client: httpx.AsyncClient, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    body = interaction_body()
    response = await client.post("/v1/interactions", json=body)
    assert response.status_code == 201, response.text
    customer = body["customer_id"]
    records = await tail.read(lambda got: len(got) >= 1, keep=lambda r: r.key == customer.encode())
    assert header(records[0], "ce_type") == "crm.interaction.recorded.v1"
    assert header(records[0], "ce_id") == response.json()["event_id"]
    assert header(records[0], "ce_subject") == customer
    sent = datetime.fromisoformat(body["occurred_at"])
    ce_time = datetime.fromisoformat(header(records[0], "ce_time") or "")
    assert ce_time == sent.replace(microsecond=sent.microsecond // 1000 * 1000)


async def test_orders_cancel_and_return(
    client: httpx.AsyncClient, connection: ConnectionSettings
) -> None:
    tail = TopicTail(connection, INTERACTION.name)
    await tail.mark()
    body = order_body()
    placed = await client.post("/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    assert (await client.post("/v1/orders", json=body)).status_code == 200
    order_id = body["order_id"]
    cancel = await client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "duplicate PO"})
    assert cancel.status_code == 201, cancel.text
    assert (await client.post(f"/v1/orders/{order_id}/cancel")).status_code == 200
    returned = {"return_id": "R-1", "amount": "850.00", "returned_at": hours_ago(1)}
    first = await client.post(f"/v1/orders/{order_id}/return", json=returned)
    assert first.status_code == 201, first.text
    again = await client.post(f"/v1/orders/{order_id}/return", json=returned)
    assert again.status_code == 200
    missing = await client.post(f"/v1/orders/{unique('SO')}/cancel")
    assert missing.status_code == 404
    records = await tail.read(
        lambda got: len(got) >= 3, keep=lambda r: r.key == body["customer_id"].encode()
    )
    assert [header(r, "ce_type") for r in records] == [
        "crm.order.placed.v1",
        "crm.order.cancelled.v1",
        "crm.order.returned.v1",
    ]


async def test_bad_bodies_are_422(client: httpx.AsyncClient) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases = [
        interaction_body(duration_s="long"),
        interaction_body(channel="fax"),
        interaction_body(sentiment=2),
        interaction_body(unexpected="field"),
        interaction_body(occurred_at=future),
        interaction_body(occurred_at="2026-11-20T08:00:00"),  # naive
        {k: v for k, v in interaction_body().items() if k != "external_id"},
    ]
    for body in cases:
        response = await client.post("/v1/interactions", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await client.post("/v1/orders", json=order_body(amount="-1"))).status_code == 422
    assert (await client.post("/v1/orders", json=order_body(currency="yuan"))).status_code == 422
    late = await client.post("/v1/orders", json=order_body(ordered_at=future))
    assert late.status_code == 422
    assert "future" in late.text


async def test_batch_reports_each_item(client: httpx.AsyncClient, store: ActivityStore) -> None:
    customer = unique("cust")
    good = [interaction_body(customer_id=customer) for _ in range(3)]
    items = [
        good[0],
        interaction_body(customer_id=customer, channel="fax"),
        good[1],
        good[0],  # the same contact twice in one batch
        interaction_body(customer_id=customer, occurred_at="2999-01-01T00:00:00Z"),
        good[2],
    ]
    response = await client.post("/v1/interactions:batch", json={"items": items})
    assert response.status_code == 200, response.text
    result = response.json()
    statuses = [(r["index"], r["status"]) for r in result["results"]]
    assert statuses == [
        (0, "accepted"),
        (1, "rejected"),
        (2, "accepted"),
        (3, "duplicate"),
        (4, "rejected"),
        (5, "accepted"),
    ]
    assert "channel" in result["results"][1]["reason"]
    assert "future" in result["results"][4]["reason"]
    assert (result["accepted"], result["duplicate"], result["rejected"]) == (3, 1, 2)
    assert len(await store.of_customer(customer)) == 3


async def test_same_batch_twice_creates_nothing_new(
    client: httpx.AsyncClient, store: ActivityStore
) -> None:
    customer = unique("cust")
    items = [interaction_body(customer_id=customer) for _ in range(50)]
    first = await client.post("/v1/interactions:batch", json={"items": items})
    assert first.json()["accepted"] == 50, first.text
    before = await store.of_customer(customer)
    again = await client.post("/v1/interactions:batch", json={"items": items})
    assert again.status_code == 200
    assert (again.json()["accepted"], again.json()["duplicate"]) == (0, 50)
    after = await store.of_customer(customer)
    assert sorted(d["_id"] for d in after) == sorted(d["_id"] for d in before)
    assert len(after) == 50


async def test_mixed_batch_with_kinds(client: httpx.AsyncClient, store: ActivityStore) -> None:
    customer = unique("cust")
    items = [
        {"kind": "interaction", **interaction_body(customer_id=customer)},
        {"kind": "order", **order_body(customer_id=customer)},
        {"kind": "complaint", "customer_id": customer},
    ]
    response = await client.post("/v1/batch", json={"items": items})
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == [
        "accepted",
        "accepted",
        "rejected",
    ]
    assert {d["kind"] for d in await store.of_customer(customer)} == {
        "interaction",
        "order_placed",
    }


async def test_batch_limits(client: httpx.AsyncClient) -> None:
    too_many = [interaction_body() for _ in range(1001)]
    assert (await client.post("/v1/batch", json={"items": too_many})).status_code == 422
    assert (await client.post("/v1/batch", json={"items": []})).status_code == 422


async def test_overload_answers_429_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    limit = app.state.batch_limit
    while limit.try_acquire():  # occupy every slot, as concurrent batches would
        pass
    try:
        response = await client.post("/v1/interactions:batch", json={"items": [interaction_body()]})
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        single = await client.post("/v1/interactions", json=interaction_body())
        assert single.status_code == 201  # single posts are not throttled by batches
    finally:
        limit.in_flight = 0
    ok = await client.post("/v1/interactions:batch", json={"items": [interaction_body()]})
    assert ok.status_code == 200


async def test_timeline_newest_first_filtered_and_paged(client: httpx.AsyncClient) -> None:
    customer = unique("cust")
    items = [
        {"kind": "interaction", **interaction_body(customer_id=customer, occurred_at=hours_ago(h))}
        for h in (5, 1, 3)
    ] + [
        {
            "kind": "interaction",
            **interaction_body(
                customer_id=customer, channel="email", occurred_at=hours_ago(24 * 40)
            ),
        },
        {"kind": "order", **order_body(customer_id=customer, ordered_at=hours_ago(2))},
    ]
    assert (await client.post("/v1/batch", json={"items": items})).json()["accepted"] == 5
    url = f"/v1/customers/{customer}/timeline"
    everything = (await client.get(url)).json()
    times = [item["occurred_at"] for item in everything["items"]]
    assert times == sorted(times, reverse=True)
    assert [item["kind"] for item in everything["items"]][:3] == [
        "interaction",
        "order_placed",
        "interaction",
    ]
    assert everything["next_cursor"] is None

    pages: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(url, params=params)).json()
        pages.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [item["id"] for item in everything["items"]]

    email = (await client.get(url, params={"channel": "email"})).json()["items"]
    assert [item["channel"] for item in email] == ["email"]
    orders = (await client.get(url, params={"kind": "order_placed"})).json()["items"]
    assert [item["amount"] for item in orders] == ["10200.00"]
    recent = (await client.get(url, params={"from": hours_ago(4)})).json()["items"]
    assert len(recent) == 3
    bad = await client.get(url, params={"cursor": "nonsense"})
    assert bad.status_code == 422

    stats = (await client.get(f"/v1/customers/{customer}/contact-stats")).json()
    assert (stats["contacts_30d"], stats["contacts_90d"], stats["contacts_total"]) == (3, 4, 4)
    assert set(stats["last_contact_by_channel"]) == {"phone", "email"}
    assert stats["orders_90d"] == 1


async def test_starts_and_answers_503_while_its_database_is_away(
    connection: ConnectionSettings,
) -> None:
    values = connection.model_dump() | {"mongo_url": "mongodb://127.0.0.1:1/"}
    settings = Settings(**values, ingest_enabled=False)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://svc", headers=bearer()
        ) as http:
            response = await http.post("/v1/interactions", json=interaction_body())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
