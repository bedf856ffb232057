"""The customer archive over HTTP: the customer service as a real uvicorn process.

Create (`POST /v1/customers`, a realistic body with contacts, normalised phones and a unique
ERP code: validation, key reservation, insert with its event in the outbox) and read
(`GET /v1/customers/{id}` of the customers just created), each as a ratio of the bare FastAPI
baseline (`bench.baseline.bare_app`: `POST /echo` of the same body, `GET /json`) under the same
client, concurrency and process setup, in the same run. The relay publishes the created
events to Kafka meanwhile, as in production.

Import: one `POST /v1/customers:import` of a CSV file with `rows` new customers, then the same
file again (every row matched, nothing changed): rows per second of each.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bench.baseline import Load, Request, drive, http_client, serve
from bench.common import Rate, Row, connection, service_env
from shared.auth import AuthSettings, Role, TokenIssuer, account_principal
from shared.events import utc_now
from shared.mongo import connect

CONCURRENCY = 16


def token() -> str:
    """An agent's access token (create and read), signed with the development key."""
    principal = account_principal("bench-agent", Role.AGENT)
    access, _ = TokenIssuer(AuthSettings()).access_token(principal, now=utc_now())
    return access


def customer(run: str, index: int) -> dict[str, Any]:
    """A customer as an account manager enters it: names, contacts, codes, segments."""
    return {
        "kind": "organisation",
        "name": f"中山凯达精细化工股份有限公司 {index}",
        "name_latin": f"Zhongshan Kaida Fine Chemical {index}",
        "phones": [f"0760-8{index % 1000:03d} {index % 10000:04d}"],
        "emails": [f"Purchasing.{index}@Kaida.example.cn"],
        "region": "guangdong",
        "segments": ["insecticide_aerosol"],
        "external_ids": {"erp": f"{run}-{index}"},
        "tags": ["aerosol"],
        "owner": "wang.lei",
        "key_account": index % 10 == 0,
        "relationship_stage": "preferred_supplier",
        "contacts": [{"name": "李娜", "role": "采购经理", "phones": ["138 0013 8000"]}],
    }


def _post(path: str, run: str, offset: int) -> Callable[[httpx.AsyncClient, int], Any]:
    return shifted(lambda client, index: client.post(path, json=customer(run, index)), offset)


def shifted(request: Request, offset: int) -> Request:
    """`request` with its indexes starting at `offset` (unique customers across rounds)."""
    return lambda client, index: request(client, offset + index)


def merged(loads: list[Load]) -> Load:
    """One load out of the rounds of one path (their requests, time and latencies added up)."""
    failures: dict[int, int] = {}
    for load in loads:
        for status, count in load.failures.items():
            failures[status] = failures.get(status, 0) + count
    return Load(
        loads[0].what,
        sum(load.requests for load in loads),
        sum(load.seconds for load in loads),
        [latency for load in loads for latency in load.latencies_s],
        failures,
    )


async def crud_phase(url: str, bare_url: str, run: str, requests: int, rounds: int) -> list[Row]:
    """Baseline and service in alternating rounds, so that both meet the same machine: on
    shared cores the load changes from minute to minute, and a baseline measured minutes
    before the service would make the ratio mean nothing."""
    ids: list[str] = []

    async def create(client: httpx.AsyncClient, index: int) -> httpx.Response:
        response = await client.post("/v1/customers", json=customer(run, index))
        if response.status_code == 201:
            ids.append(response.json()["id"])
        return response

    async def read_one(client: httpx.AsyncClient, index: int) -> httpx.Response:
        return await client.get(f"/v1/customers/{ids[index % len(ids)]}")

    per_round = max(1, requests // rounds)
    paths = ("echo", "create", "json", "read")
    loads: dict[str, list[Load]] = {path: [] for path in paths}
    headers = {"authorization": f"Bearer {token()}"}
    async with (
        http_client(bare_url, concurrency=CONCURRENCY) as bare,
        http_client(url, concurrency=CONCURRENCY, headers=headers) as service,
    ):
        await drive("warm-up", bare, _post("/echo", f"{run}w", 0), concurrency=4, count=50)
        await drive(
            "warm-up", service, _post("/v1/customers", f"{run}w", 0), concurrency=4, count=50
        )
        for round_ in range(rounds):
            offset = round_ * per_round
            loads["echo"].append(
                await drive(
                    "bare FastAPI POST /echo (same body)",
                    bare,
                    _post("/echo", f"{run}e", offset),
                    concurrency=CONCURRENCY,
                    count=per_round,
                )
            )
            loads["create"].append(
                await drive(
                    "POST /v1/customers (create)",
                    service,
                    shifted(create, offset),
                    concurrency=CONCURRENCY,
                    count=per_round,
                )
            )
            loads["json"].append(
                await drive(
                    "bare FastAPI GET /json",
                    bare,
                    lambda c, i: c.get("/json"),
                    concurrency=CONCURRENCY,
                    count=per_round,
                )
            )
            loads["read"].append(
                await drive(
                    "GET /v1/customers/{id} (read)",
                    service,
                    shifted(read_one, offset),
                    concurrency=CONCURRENCY,
                    count=per_round,
                )
            )
    echo, created, bare_get, read = (merged(loads[path]) for path in paths)
    print(f"{rounds} alternating rounds of {per_round} requests per path")
    print(echo.line())
    print(created.line(echo))
    print(bare_get.line())
    print(read.line(bare_get))
    for name, load, baseline in (("create", created, echo), ("read", read, bare_get)):
        print(
            f"{name}: p50 {load.p50_ms / baseline.p50_ms:.1f}x, "
            f"p99 {load.p99_ms / baseline.p99_ms:.1f}x the baseline's latency"
        )
    return [
        Row(
            "customer",
            f"{name} vs bare FastAPI",
            f"{load.per_second:,.0f} req/s ({load.per_second / baseline.per_second:.2f}x),"
            f" p50 {load.p50_ms:,.0f} ms",
        )
        for name, load, baseline in (("create", created, echo), ("read", read, bare_get))
    ]


def import_file(run: str, rows: int) -> bytes:
    lines = ["external_ids.erp,kind,name,phones,region,tags,owner\r\n"]
    lines += [
        f"{run}-i{n},organisation,批量客户 {n},0760-8{n % 1000:03d} {n % 10000:04d},guangdong,"
        "aerosol;bulk,wang.lei\r\n"
        for n in range(rows)
    ]
    return "".join(lines).encode()


async def import_phase(url: str, run: str, rows: int) -> list[Row]:
    body = import_file(run, rows)
    headers = {"authorization": f"Bearer {token()}", "content-type": "text/csv"}
    rows_out: list[Row] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=3600) as client:
        for what in ("import: new customers (created)", "import: same file again (unchanged)"):
            started = time.perf_counter()
            response = await client.post("/v1/customers:import", content=body)
            seconds = time.perf_counter() - started
            response.raise_for_status()
            report = response.json()
            print(
                Rate(what, rows, seconds).line()
                + f"  created {report['created']} updated {report['updated']}"
                + f" unchanged {report['unchanged']} rejected {report['rejected']}"
            )
            rows_out.append(Row("customer", what, f"{rows / seconds:,.0f} rows/s"))
    return rows_out


async def run(requests: int, rows: int, rounds: int = 5) -> list[Row]:
    settings = await connection()
    run_id = f"bench{uuid.uuid4().hex[:6]}"
    env = service_env(settings, CRM_VIEW360_ENABLED="false", CRM_CONSOLE_ENABLED="false")
    print(f"customer bench: {requests} creates and reads, concurrency {CONCURRENCY}; import {rows}")
    try:
        async with serve(
            "services.customer.app:create_app", factory=True, env=env, ready_path="/readyz"
        ) as url:
            async with serve("bench.baseline:bare_app") as bare_url:
                crud = await crud_phase(url, bare_url, run_id, requests, rounds)
            return crud + await import_phase(url, run_id, rows)
    finally:
        client = connect(settings)
        try:
            await client.drop_database(settings.mongo_database_prefix + "crm_customer")
        finally:
            await client.close()
