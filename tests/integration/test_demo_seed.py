"""A small demo world played into the real customer, interaction and complaint services.

The three apps run in-process (ASGI) on the real stack, like the services' own integration
tests; the world reaches them only through their public HTTP APIs. Afterwards every customer,
contact, order and complaint is found through the APIs, and playing the same seed again adds
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import tests.conftest
from services.complaint.app import create_app as complaint_app
from services.complaint.settings import Settings as ComplaintSettings
from services.customer.app import create_app as customer_app
from services.customer.settings import Settings as CustomerSettings
from services.interaction.app import create_app as interaction_app
from services.interaction.settings import Settings as InteractionSettings
from shared.demo.player import (
    Clients,
    KafkaIngest,
    Player,
    PlayReport,
    RenewingBearer,
    Targets,
    open_clients,
)
from shared.demo.world import CustomerStory, WorldConfig, generate, story
from shared.settings import ConnectionSettings
from shared.topics import CONTACT_CENTER_INGEST, CUSTOMER
from tests.conftest import own_databases, unique
from tests.integration.messaging_support import group_at_end

pytestmark = pytest.mark.stack

# Whole hours in the past, so the services accept every event time, and fixed for the test.
AS_OF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
CONFIG = WorldConfig(customers=24, seed=2412, as_of=AS_OF)


def auth() -> dict[str, str]:
    """A bearer token once the services require one (tests.conftest.bearer), else nothing."""
    bearer = getattr(tests.conftest, "bearer", None)
    return dict(bearer()) if bearer is not None else {}


@contextlib.asynccontextmanager
async def running(
    connection: ConnectionSettings, interaction: InteractionSettings
) -> AsyncIterator[dict[str, FastAPI]]:
    # Background work that would move the world on its own is off: no SLA checks (the states
    # stay the ones played), no audit mover, no 360 read model.
    common = connection.model_dump()
    apps = {
        "customer": customer_app(
            CustomerSettings(**common, audit_move_interval_s=0, view360_enabled=False)
        ),
        "interaction": interaction_app(interaction),
        "complaint": complaint_app(ComplaintSettings(**common, sla_check_interval_s=0)),
    }
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield apps


@contextlib.asynccontextmanager
async def clients_of(apps: dict[str, FastAPI]) -> AsyncIterator[Clients]:
    """Clients of the in-process apps; tokens come through `RenewingBearer`, as in the CLI."""
    transports = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}
    targets = Targets("http://customer", "http://interaction", "http://complaint")
    headers = auth()

    async def renew() -> str:
        return headers["Authorization"].removeprefix("Bearer ")

    bearer = RenewingBearer(renew) if headers else None
    async with open_clients(targets, {}, auth=bearer, transports=transports) as opened:
        yield opened


@pytest.fixture
async def clients(connection: ConnectionSettings) -> AsyncIterator[Clients]:
    # Hotline calls go over HTTP here (no ingest consumer): the Kafka path has its own test.
    # Databases of their own: a world seeded by another test would be "found again".
    connection = own_databases(connection, unique("seed").replace("-", "_"))
    interaction = InteractionSettings(**connection.model_dump(), ingest_enabled=False)
    async with running(connection, interaction) as apps, clients_of(apps) as opened:
        yield opened


async def play(
    clients: Clients, config: WorldConfig = CONFIG, ingest: KafkaIngest | None = None
) -> tuple[PlayReport, dict[str, str]]:
    player = Player(clients, concurrency=4, ingest=ingest)
    report = await player.play(generate(config))
    return report, {target.erp: target.customer_id for target in player.targets}


async def timeline(clients: Clients, customer_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        page = await clients.interaction.get(f"/v1/customers/{customer_id}/timeline", params=params)
        assert page.status_code == 200, page.text
        entries += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return entries


async def complaints_of(clients: Clients, customer_id: str) -> list[dict[str, Any]]:
    page = await clients.complaint.get(
        "/v1/complaints", params={"customer_id": customer_id, "limit": 200}
    )
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def check_world(clients: Clients, ids: dict[str, str], world: list[CustomerStory]) -> None:
    """Everything of the world is there through the APIs, exactly once."""
    for s in world:
        customer_id = ids[s.erp]
        found = await clients.customer.get(f"/v1/customers/{customer_id}")
        assert found.status_code == 200, found.text
        assert found.json()["name"] == s.body["name"]
        assert found.json()["external_ids"]["erp"] == s.erp
        search = await clients.customer.get("/v1/customers", params={"q": s.erp})
        assert [c["id"] for c in search.json()["items"]] == [customer_id]

        entries = await timeline(clients, customer_id)
        kinds = Counter(entry["kind"] for entry in entries)
        assert kinds["interaction"] == len(s.interactions)
        assert kinds["order_placed"] == len(s.orders)
        follow_ups = Counter(f.kind for f in s.follow_ups)
        assert kinds["order_cancelled"] == follow_ups["cancel"]
        assert kinds["order_returned"] == follow_ups["return"]

        complaints = {c["external_id"]: c for c in await complaints_of(clients, customer_id)}
        assert set(complaints) == {plan.external_id for plan in s.complaints}
        for plan in s.complaints:
            played = complaints[plan.external_id]
            assert played["state"] == plan.final_state, plan.external_id
            assert played["reopen_count"] == (plan.steps[-1].reopens_after if plan.steps else 0)
            surveyed = any(step.action == "survey" for step in plan.steps)
            assert (played["survey"] is not None) == surveyed


async def test_a_small_world_is_played_through_the_apis_and_again_adds_nothing(
    clients: Clients,
) -> None:
    world = list(generate(CONFIG))
    interactions = sum(len(s.interactions) for s in world)
    orders = sum(len(s.orders) for s in world)
    complaints = [plan for s in world for plan in s.complaints]
    assert interactions > 100 and orders > 50 and len(complaints) >= 5

    first, ids = await play(clients)
    assert first.errors == []
    assert first.customers_created == len(world) == len(ids)
    assert first.activities_accepted == interactions + orders
    assert first.activities_rejected == 0
    assert first.follow_ups == sum(len(s.follow_ups) for s in world)
    assert first.complaints_created == len(complaints)
    assert first.complaint_steps == sum(len(plan.steps) for plan in complaints)
    await check_world(clients, ids, world)

    second, ids_again = await play(clients)
    assert second.errors == []
    assert ids_again == ids  # found again by their ERP codes
    assert (second.customers_created, second.customers_existing) == (0, len(world))
    assert second.activities_accepted == 0
    assert second.activities_duplicate == interactions + orders
    assert (second.complaints_created, second.complaints_existing) == (0, len(complaints))
    assert second.complaint_steps == 0
    await check_world(clients, ids, world)


async def test_an_interrupted_complaint_resumes_where_it_stopped(clients: Clients) -> None:
    config = dataclasses.replace(CONFIG, seed=2413, customers=60)
    s = next(
        s
        for s in (story(config, index) for index in range(config.customers))
        if any(len(plan.steps) >= 5 for plan in s.complaints)
    )
    plan = next(plan for plan in s.complaints if len(plan.steps) >= 5)
    player = Player(clients)
    customer_id = await player.create_customer(s)

    # A first run died after two steps …
    await player.play_complaint(customer_id, dataclasses.replace(plan, steps=plan.steps[:2]))
    # … the re-run plays only the rest.
    before = player.report.complaint_steps
    await player.play_complaint(customer_id, plan)
    assert player.report.errors == []
    assert player.report.complaint_steps - before == len(plan.steps) - 2
    (played,) = [c for c in await complaints_of(clients, customer_id)]
    assert played["state"] == plan.final_state


async def test_hotline_calls_arrive_through_the_kafka_ingest_topic(
    connection: ConnectionSettings,
) -> None:
    connection = own_databases(connection, unique("seedk").replace("-", "_"))
    config = dataclasses.replace(CONFIG, seed=2414, customers=6)
    world = list(generate(config))
    hotline = sum(a.via_ingest for s in world for a in s.activities)
    assert hotline > 0
    interaction = InteractionSettings(
        **connection.model_dump(),
        ingest_group_id=await group_at_end(connection, CONTACT_CENTER_INGEST),
        customers_group_id=await group_at_end(connection, CUSTOMER),
    )
    async with (
        running(connection, interaction) as apps,
        clients_of(apps) as clients,
        KafkaIngest(connection.kafka_bootstrap_servers) as ingest,
    ):
        consumer = apps["interaction"].state.ingest
        async with asyncio.timeout(30):
            while not consumer.assigned:
                await asyncio.sleep(0.1)
        report, ids = await play(clients, config, ingest)
        assert report.errors == []
        assert report.ingest_published == hotline
        assert report.activities_accepted == sum(len(s.activities) for s in world) - hotline

        async def contacts_recorded() -> dict[str, int]:
            return {
                s.erp: sum(e["kind"] == "interaction" for e in await timeline(clients, ids[s.erp]))
                for s in world
            }

        expected = {s.erp: len(s.interactions) for s in world}
        async with asyncio.timeout(60):
            while await contacts_recorded() != expected:
                await asyncio.sleep(0.5)

        again, _ = await play(clients, config, ingest)  # the same calls once more …
        assert again.activities_accepted == 0
        await asyncio.sleep(3)
        assert await contacts_recorded() == expected  # … are recorded once
