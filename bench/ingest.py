"""Ingestion over HTTP, end to end: the interaction service as a real uvicorn process.

Batch: `events` interactions in batches of 1000 (`POST /v1/interactions:batch`, as many in
flight as the service admits); the clock runs from the first request until a consumer on
`crm.interaction.v1` has counted every accepted event (stored, relayed by the outbox, acked
by Kafka). The HTTP acceptance rate (validate + insert with the outbox) is printed too, so the
gap between the two is the relay's share.

Single: `POST /v1/interactions` one contact per request, as a ratio of a bare FastAPI POST echo
of the same body (`bench.baseline.bare_app`) under the same client, concurrency and process
setup, in the same run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bench.baseline import Load, drive, http_client, serve
from bench.common import Rate, Row, connection, service_env, watch_from_end
from shared.auth import AuthSettings, Scope, TokenIssuer, api_key_principal
from shared.events import utc_now
from shared.mongo import connect
from shared.settings import ConnectionSettings
from shared.topics import INTERACTION

BATCH = 1000
BATCHES_IN_FLIGHT = 4
SINGLE_CONCURRENCY = 16


def token() -> str:
    """What a contact-center system holds after exchanging its API key (docs/ingesting.md)."""
    principal = api_key_principal("bench", "bench ingest", [Scope.INGEST_WRITE])
    access, _ = TokenIssuer(AuthSettings()).access_token(principal, now=utc_now())
    return access


def contact(run: str, index: int, at: datetime) -> dict[str, Any]:
    """One contact as a dialer sends it; 500 customers per run, so keys spread over partitions."""
    return {
        "customer_id": f"{run}-c{index % 500}",
        "channel": "phone",
        "direction": "inbound",
        "agent": "wang",
        "duration_s": 180 + index % 300,
        "subject": "Asks about delivery of printed tinplate",
        "outcome": "answered",
        "occurred_at": at.isoformat(),
        "source_system": "bench-dialer",
        "external_id": f"{run}-{index}",
    }


class Arrivals:
    """Counts this run's events on crm.interaction.v1 (keys start with the run's prefix)."""

    def __init__(self, settings: ConnectionSettings, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        self.prefix = prefix.encode()
        self.count = 0
        self.last_at = 0.0

    async def start(self) -> None:
        await watch_from_end(self.consumer, INTERACTION.name)

    async def until(self, expected: Callable[[], int | None], timeout_s: float) -> None:
        """Count until `expected()` (None while unknown) is reached."""
        deadline = time.monotonic() + timeout_s
        while (target := expected()) is None or self.count < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count} of {target} events arrived in {timeout_s:.0f}s")
            batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                self.count += sum(1 for r in records if r.key and r.key.startswith(self.prefix))
            if batches:
                self.last_at = time.perf_counter()

    async def stop(self) -> None:
        await self.consumer.stop()


async def batch_phase(
    url: str, settings: ConnectionSettings, run: str, events: int
) -> tuple[Rate, Rate]:
    at = datetime.now(UTC) - timedelta(days=1)
    batches = max(1, events // BATCH)
    bodies = [
        {"items": [contact(run, b * BATCH + i, at) for i in range(BATCH)]} for b in range(batches)
    ]
    accepted = refused = 0

    async def send(client: httpx.AsyncClient, index: int) -> httpx.Response:
        nonlocal accepted, refused
        response = await client.post("/v1/interactions:batch", json=bodies[index])
        while response.status_code == 429:  # as docs/ingesting.md tells a source to do
            refused += 1
            await asyncio.sleep(float(response.headers["retry-after"]))
            response = await client.post("/v1/interactions:batch", json=bodies[index])
        if response.status_code == 200:
            accepted += response.json()["accepted"]
        return response

    arrivals = Arrivals(settings, f"{run}-")
    await arrivals.start()
    done = False
    try:
        counting = asyncio.create_task(
            arrivals.until(lambda: accepted if done else None, timeout_s=600)
        )
        started = time.perf_counter()
        async with http_client(
            url, concurrency=BATCHES_IN_FLIGHT, headers={"authorization": f"Bearer {token()}"}
        ) as client:
            load = await drive(
                "HTTP batch requests (1000 items each)",
                client,
                send,
                concurrency=BATCHES_IN_FLIGHT,
                count=batches,
            )
        done = True
        await counting
    finally:
        await arrivals.stop()
    http = Rate("batch: accepted over HTTP (validate + insert)", accepted, load.seconds)
    end_to_end = Rate(
        "batch: accepted -> on crm.interaction.v1", arrivals.count, arrivals.last_at - started
    )
    print(load.line() + f"  ({refused} refused with 429 and resent)")
    print(http.line())
    print(end_to_end.line())
    verdict = "met" if end_to_end.per_second >= 20_000 else "missed"
    print(f"target batch >= 20,000 events/s end to end: {verdict}")
    return http, end_to_end


async def bare_phase(bare_url: str, run: str, requests: int) -> Load:
    at = datetime.now(UTC) - timedelta(hours=1)
    async with http_client(bare_url, concurrency=SINGLE_CONCURRENCY) as client:
        await drive("warm-up", client, _echo(run, at), concurrency=4, count=50)
        return await drive(
            "bare FastAPI POST /echo (same body)",
            client,
            _echo(run, at),
            concurrency=SINGLE_CONCURRENCY,
            count=requests,
        )


async def single_phase(url: str, bare: Load, run: str, requests: int) -> Load:
    at = datetime.now(UTC) - timedelta(hours=1)
    headers = {"authorization": f"Bearer {token()}"}
    async with http_client(url, concurrency=SINGLE_CONCURRENCY, headers=headers) as client:
        single: Load = await drive(
            "POST /v1/interactions (one contact)",
            client,
            lambda c, i: c.post("/v1/interactions", json=contact(f"{run}s", i, at)),
            concurrency=SINGLE_CONCURRENCY,
            count=requests,
        )
    print(bare.line())
    print(single.line(bare))
    return single


def _echo(run: str, at: datetime) -> Callable[[httpx.AsyncClient, int], Any]:
    return lambda c, i: c.post("/echo", json=contact(f"{run}e", i, at))


async def run(events: int, requests: int) -> list[Row]:
    settings = await connection()
    run_id = f"bench{uuid.uuid4().hex[:6]}"
    env = service_env(
        settings,
        CRM_INGEST_ENABLED="false",
        CRM_MAX_BATCHES_IN_FLIGHT=str(BATCHES_IN_FLIGHT),
    )
    print(f"ingest bench: {events} events in batches of {BATCH}, {requests} single requests")
    try:
        # The baseline runs alone, before the service (whose relay works in the background).
        async with serve("bench.baseline:bare_app") as bare_url:
            bare = await bare_phase(bare_url, run_id, requests)
        async with serve(
            "services.interaction.app:create_app", factory=True, env=env, ready_path="/readyz"
        ) as url:
            single = await single_phase(url, bare, run_id, requests)
            http, end_to_end = await batch_phase(url, settings, run_id, events)
        return [
            Row(
                "ingest",
                "batch, accepted -> on crm.interaction.v1",
                f"{end_to_end.per_second:,.0f} events/s (HTTP {http.per_second:,.0f}/s)",
                ">= 20,000 /s",
            ),
            Row(
                "ingest",
                "single contact per request",
                f"{single.per_second:,.0f} req/s ({single.per_second / bare.per_second:.2f}x)",
                "vs bare FastAPI echo",
            ),
        ]
    finally:
        client = connect(settings)
        try:
            await client.drop_database(settings.mongo_database_prefix + "crm_interaction")
        finally:
            await client.close()
