"""End to end at a fixed offered load: HTTP ingest → outbox → Kafka → scorer → score.

    python -m bench endtoend [--rate R] [--seconds S] [--customers C] [--quick]

The interaction service (uvicorn process) and the scorer worker (Faust process, fresh group)
run on the local stack with this run's own databases. A client offers R contacts/s for S
seconds through `POST /v1/interactions:batch`: every 50 ms a batch of R/20 contacts, round
robin over C customers, each with its own event time (`occurred_at`, strictly increasing per
customer). Batches are sent on schedule, whatever the previous ones are doing; a 429 is
waited out and resent as docs/ingesting.md tells sources to. Each accepted contact's clock
runs from the HTTP answer that accepted it until a score on `crm.scores.v1` reflects it
(`as_of` ≥ its event time; scores are published after they are stored in Mongo). Lost =
accepted but never scored by the end of the grace period (which lasts while scores still
come in).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import httpx

from bench.baseline import serve
from bench.common import Rate, Row, connection, drop_databases, service_env
from bench.ingest import token
from bench.latency import (
    EventClock,
    ScorerWorker,
    ScoreWatcher,
    event_time,
    from_millis,
    millis,
    scorer_breakdown,
    scorer_metrics,
)
from bench.scoring import wait_until_assigned
from shared.topics import INTERACTION

TICK_S = 0.05


def contact(customer: str, at_ms: int, external_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "channel": "phone",
        "direction": "inbound",
        "agent": "wang",
        "duration_s": 180,
        "subject": "Asks about delivery of printed tinplate",
        "outcome": "answered",
        "occurred_at": from_millis(at_ms).isoformat(),
        "source_system": "bench-endtoend",
        "external_id": external_id,
    }


class Offer:
    """Posts the batches and tells the watcher what was accepted, and when."""

    def __init__(self, client: httpx.AsyncClient, watchers: list[ScoreWatcher]) -> None:
        self.client = client
        self.watchers = watchers
        self.offered = 0
        self.accepted = 0
        self.other: dict[str, int] = {}
        self.refused = 0
        self.failed: dict[str, int] = {}
        self.latencies_s: list[float] = []

    async def post(self, items: list[dict[str, Any]]) -> None:
        self.offered += len(items)
        started = time.perf_counter()
        try:
            response = await self.client.post("/v1/interactions:batch", json={"items": items})
            while response.status_code == 429:
                self.refused += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                response = await self.client.post("/v1/interactions:batch", json={"items": items})
        except httpx.HTTPError as error:
            self.failed[type(error).__name__] = self.failed.get(type(error).__name__, 0) + 1
            return
        answered = time.perf_counter()
        self.latencies_s.append(answered - started)
        if response.status_code != 200:
            self.failed[str(response.status_code)] = (
                self.failed.get(str(response.status_code), 0) + 1
            )
            return
        for result in response.json()["results"]:
            item = items[result["index"]]
            if result["status"] == "accepted":
                self.accepted += 1
                at_ms = millis(datetime.fromisoformat(item["occurred_at"]))
                for watcher in self.watchers:
                    watcher.expect(item["customer_id"], at_ms, answered)
            else:
                self.other[result["status"]] = self.other.get(result["status"], 0) + 1


async def run(rate: int, seconds: float, customers: int) -> list[Row]:
    settings = await connection()
    run_id = f"e2e{uuid.uuid4().hex[:6]}"
    worker = ScorerWorker(settings, f"bench-scorer-{uuid.uuid4().hex[:6]}")
    watcher = ScoreWatcher(settings)
    relayed = ScoreWatcher(settings, INTERACTION.name, event_time, noun="on the topic")
    clock = EventClock()
    per_tick = max(1, round(rate * TICK_S))
    print(
        f"end to end: {rate:,} contacts/s offered for {seconds:.0f}s, batches of {per_tick} every "
        f"{TICK_S * 1000:.0f} ms, over {customers:,} customers"
    )
    env = service_env(settings, CRM_INGEST_ENABLED="false")
    worker.start()
    try:
        async with serve(
            "services.interaction.app:create_app", factory=True, env=env, ready_path="/readyz"
        ) as url:
            await worker.wait_ready(timeout_s=120)
            await wait_until_assigned(settings.kafka_bootstrap_servers, worker.app_id)
            await watcher.start()
            await relayed.start()
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(
                base_url=url,
                headers={"authorization": f"Bearer {token()}"},
                limits=limits,
                timeout=120,
            ) as client:
                offer = Offer(client, [relayed, watcher])
                before = scorer_metrics(worker.metrics_url)
                tasks: list[asyncio.Task[None]] = []
                sent = 0
                started = time.perf_counter()
                tick = 0
                while time.perf_counter() - started < seconds:
                    items = []
                    for _ in range(per_tick):
                        customer = f"{run_id}-c{sent % customers:06d}"
                        items.append(contact(customer, clock.next(customer), f"{run_id}-{sent}"))
                        sent += 1
                    tasks.append(asyncio.create_task(offer.post(items)))
                    tick += 1
                    await asyncio.sleep(max(0.0, started + tick * TICK_S - time.perf_counter()))
                offered_s = time.perf_counter() - started
                await asyncio.gather(*tasks)
                http_s = time.perf_counter() - started
            offered = Rate("offered (posted on schedule)", offer.offered, offered_s)
            accepted = Rate("accepted over HTTP", offer.accepted, http_s)
            print(offered.line())
            print(
                accepted.line()
                + f"  429s resent {offer.refused}, other outcomes {offer.other or 'none'},"
                + f" failed requests {offer.failed or 'none'}"
            )
            batch_ms = sorted(offer.latencies_s)
            if batch_ms:
                print(
                    f"batch request time p50 {batch_ms[len(batch_ms) // 2] * 1000:,.0f} ms, "
                    f"max {batch_ms[-1] * 1000:,.0f} ms"
                )
            progressing = await watcher.settle(stall_s=30, max_s=600)
            print(scorer_breakdown(worker.metrics_url, before, watcher.last_match - started))
            result = watcher.result()
            print(relayed.result().line("accepted -> on crm.interaction.v1 (outbox relay)"))
            print(relayed.result().windows())
            print(result.line("accepted -> score on crm.scores.v1"))
            print(result.windows())
            if result.lost and progressing:
                print(
                    f"  {result.lost} accepted but not scored when the wait ended; scores were "
                    "still coming in (a backlog, not necessarily a loss)"
                )
            met = result.p99_ms < 500 and result.lost == 0 and offer.accepted == offer.offered
            print(f"target p99 < 500 ms at 2,000/s, lost 0: {'met' if met else 'missed'}")
            return [
                Row(
                    "endtoend",
                    f"{offered.per_second:,.0f}/s offered, {accepted.per_second:,.0f}/s accepted",
                    f"p50 {result.p50_ms:,.0f} / p99 {result.p99_ms:,.0f} ms, lost {result.lost}",
                    "p99 < 500 ms at 2,000/s, lost 0",
                )
            ]
    finally:
        await watcher.stop()
        await relayed.stop()
        worker.stop()
        await drop_databases(settings)
