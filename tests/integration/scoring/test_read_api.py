"""The scoring read API on the real stack, over score documents in the shapes outputs.py writes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.scoring.app import create_app
from services.scoring.outputs import (
    HISTORY,
    SCORES,
    history_document,
    score_document,
    upsert_scores,
)
from services.scoring.settings import Settings
from shared.events.scoring import ChurnReason, ChurnRisk, LoyaltyScore, ScoreUpdated
from shared.events.vocabulary import ChurnBand, Lifecycle, ValueTier
from shared.mongo import Database, Document
from shared.settings import ConnectionSettings
from tests.conftest import bearer, unique

pytestmark = pytest.mark.stack

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def app(connection: ConnectionSettings) -> AsyncIterator[FastAPI]:
    # A database of its own per test, so the distribution counts only this test's customers.
    settings = Settings(**connection.model_dump(), database=unique("scoring").replace("-", "_"))
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        db: Database = application.state.database
        await db.client.drop_database(db.name)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://scoring", headers=bearer()
    ) as http:
        yield http


@pytest.fixture
def db(app: FastAPI) -> Database:
    database: Database = app.state.database
    return database


def score_doc(
    customer_id: str,
    *,
    risk: float,
    band: ChurnBand,
    as_of: datetime,
    tier: ValueTier = ValueTier.B,
    lifecycle: Lifecycle = Lifecycle.ACTIVE,
    loyalty: float = 50.0,
    loyalty_band: str = "silver",
) -> Document:
    """A `customer_scores` document as outputs.score_document builds it."""
    data = ScoreUpdated(
        loyalty=LoyaltyScore(score=loyalty, band=loyalty_band),
        churn=ChurnRisk(
            risk=risk,
            band=band,
            horizon_days=90,
            reasons=tuple(
                ChurnReason(
                    code=code,
                    contribution=1.0 / (i + 1),
                    share=0.5 / (i + 1),
                    params={"days": 10 * (i + 1)},
                    text=f"Reason {code}.",
                )
                for i, code in enumerate(("silent_beyond_rhythm", "open_complaint", "sla_breach"))
            ),
        ),
        value_tier=tier,
        lifecycle=lifecycle,
        trend="up",
        model_version="test-1",
        computed_at=as_of + timedelta(seconds=1),
        as_of=as_of,
        features={"days_since_last_order": 10},
    )
    return score_document(customer_id, f"score-{customer_id}-{as_of.isoformat()}", data)


async def store(db: Database, doc: Document) -> None:
    """What LiveOutputs.emit writes to Mongo: the guarded upsert and the history entry."""
    await upsert_scores(db, [doc])
    await db[HISTORY].insert_one(history_document(doc))


async def test_latest_and_as_of(client: httpx.AsyncClient, db: Database) -> None:
    customer = unique("cust")
    for day, risk in ((0, 0.1), (10, 0.4), (20, 0.7)):
        band = ChurnBand.LOW if risk < 0.3 else ChurnBand.MEDIUM
        await store(db, score_doc(customer, risk=risk, band=band, as_of=T0 + timedelta(days=day)))
    # Another customer's later history never leaks in.
    await store(db, score_doc(unique("cust"), risk=0.9, band=ChurnBand.CRITICAL, as_of=T0))

    latest = await client.get(f"/v1/scores/{customer}")
    assert latest.status_code == 200
    body = latest.json()
    assert body["customer_id"] == customer
    assert body["churn"]["risk"] == 0.7
    assert datetime.fromisoformat(body["as_of"]) == T0 + timedelta(days=20)
    assert body["churn"]["reasons"][0]["code"] == "silent_beyond_rhythm"

    async def risk_at(at: str) -> Any:
        response = await client.get(f"/v1/scores/{customer}", params={"as_of": at})
        return response.status_code, response.json()

    status, body = await risk_at("2026-03-15T00:00:00Z")
    assert (status, body["churn"]["risk"]) == (200, 0.4)
    status, body = await risk_at("2026-03-11T00:00:00+00:00")  # exactly at the second score
    assert (status, body["churn"]["risk"]) == (200, 0.4)
    status, body = await risk_at("2026-03-11T07:59:59+08:00")  # a second before it, in UTC+8
    assert (status, body["churn"]["risk"]) == (200, 0.1)
    status, body = await risk_at("2027-01-01T00:00:00Z")
    assert (status, body["churn"]["risk"]) == (200, 0.7)
    status, body = await risk_at("2026-02-28T23:59:59Z")
    assert status == 404
    assert "at or before" in body["detail"]


async def test_not_found_and_invalid_times(client: httpx.AsyncClient, db: Database) -> None:
    customer = unique("cust")
    await store(db, score_doc(customer, risk=0.2, band=ChurnBand.LOW, as_of=T0))
    missing = await client.get(f"/v1/scores/{unique('nobody')}")
    assert missing.status_code == 404
    for bad in ("2026-03-15T00:00:00", "yesterday", "2026-13-01T00:00:00Z"):
        response = await client.get(f"/v1/scores/{customer}", params={"as_of": bad})
        assert response.status_code == 422, bad
    naive = await client.get(f"/v1/scores/{customer}", params={"as_of": "2026-03-15T00:00:00"})
    assert "time zone" in json.dumps(naive.json())
    for path, params in (
        ("/v1/scores/at-risk", {"band": "severe"}),
        ("/v1/scores/at-risk", {"lifecycle": "zombie"}),
        ("/v1/scores/at-risk", {"cursor": "garbage"}),
        ("/v1/scores/at-risk", {"limit": "0"}),
        ("/v1/scores/export", {"format": "xml"}),
        ("/v1/scores/export", {"as_of": "2026-03-15"}),
        (f"/v1/scores/{customer}/history", {"from": "2026-03-15T00:00:00"}),
        (f"/v1/scores/{customer}/history", {"from": "2026-03-15T00:00:00Z", "to": T0.isoformat()}),
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)


async def test_at_risk_ordering_filters_and_cursor(client: httpx.AsyncClient, db: Database) -> None:
    rows = [
        ("c-a", 0.95, ChurnBand.CRITICAL, ValueTier.A, Lifecycle.AT_RISK),
        ("c-b", 0.80, ChurnBand.CRITICAL, ValueTier.B, Lifecycle.AT_RISK),
        ("c-c", 0.80, ChurnBand.CRITICAL, ValueTier.A, Lifecycle.ACTIVE),  # ties with c-b
        ("c-d", 0.60, ChurnBand.HIGH, ValueTier.C, Lifecycle.AT_RISK),
        ("c-e", 0.55, ChurnBand.HIGH, ValueTier.A, Lifecycle.LOYAL),
        ("c-f", 0.30, ChurnBand.MEDIUM, ValueTier.A, Lifecycle.ACTIVE),
        ("c-g", 0.05, ChurnBand.LOW, ValueTier.B, Lifecycle.LOYAL),
    ]
    for customer, risk, band, tier, stage in rows:
        await store(
            db,
            score_doc(customer, risk=risk, band=band, as_of=T0, tier=tier, lifecycle=stage),
        )

    default = (await client.get("/v1/scores/at-risk")).json()
    assert [i["customer_id"] for i in default["items"]] == ["c-a", "c-b", "c-c", "c-d", "c-e"]
    assert default["next_cursor"] is None
    first = default["items"][0]
    assert first["band"] == "critical"
    assert first["risk"] == 0.95
    assert first["value_tier"] == "A"
    assert first["lifecycle"] == "at_risk"
    assert first["trend"] == "up"
    assert first["loyalty"] == {"score": 50.0, "band": "silver"}
    assert first["reasons"][0] == {
        "code": "silent_beyond_rhythm",
        "params": {"days": 10},
        "text": "Reason silent_beyond_rhythm.",
    }

    every = (await client.get("/v1/scores/at-risk", params={"band": ""})).json()
    assert [i["customer_id"] for i in every["items"]] == [r[0] for r in rows]

    filtered = await client.get(
        "/v1/scores/at-risk", params={"band": "high,critical", "value_tier": "A"}
    )
    assert [i["customer_id"] for i in filtered.json()["items"]] == ["c-a", "c-c", "c-e"]
    staged = await client.get(
        "/v1/scores/at-risk", params={"lifecycle": "at_risk,loyal", "band": "high"}
    )
    assert [i["customer_id"] for i in staged.json()["items"]] == ["c-d", "c-e"]

    # Pages of two through every customer: the tie at 0.80 is split across pages correctly.
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"band": "", "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/scores/at-risk", params=params)).json()
        seen += [i["customer_id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r[0] for r in rows]
    assert pages == 4


async def test_distribution(client: httpx.AsyncClient, db: Database) -> None:
    empty = (await client.get("/v1/scores/distribution")).json()
    assert empty["customers"] == 0
    assert empty["churn_band"] == {"low": 0, "medium": 0, "high": 0, "critical": 0}

    specs = [
        (ChurnBand.LOW, ValueTier.A, Lifecycle.LOYAL, "gold"),
        (ChurnBand.LOW, ValueTier.B, Lifecycle.ACTIVE, "silver"),
        (ChurnBand.LOW, ValueTier.C, Lifecycle.ACTIVE, "silver"),
        (ChurnBand.HIGH, ValueTier.C, Lifecycle.AT_RISK, "bronze"),
        (ChurnBand.CRITICAL, ValueTier.C, Lifecycle.CHURNED, "bronze"),
    ]
    for n, (band, tier, stage, loyalty_band) in enumerate(specs):
        customer = unique("cust")
        # Two scores for one customer: only the latest counts.
        await store(db, score_doc(customer, risk=0.5, band=ChurnBand.MEDIUM, as_of=T0))
        await store(
            db,
            score_doc(
                customer,
                risk=0.1 * n,
                band=band,
                as_of=T0 + timedelta(days=1),
                tier=tier,
                lifecycle=stage,
                loyalty_band=loyalty_band,
            ),
        )
    body = (await client.get("/v1/scores/distribution")).json()
    assert body["customers"] == 5
    assert body["churn_band"] == {"low": 3, "medium": 0, "high": 1, "critical": 1}
    assert body["value_tier"] == {"A": 1, "B": 1, "C": 3}
    assert body["lifecycle"] == {
        "prospect": 0,
        "new": 0,
        "active": 2,
        "loyal": 1,
        "at_risk": 1,
        "churned": 1,
        "won_back": 0,
    }
    assert body["loyalty_band"] == {"bronze": 2, "silver": 2, "gold": 1, "platinum": 0}


async def test_history(client: httpx.AsyncClient, db: Database) -> None:
    customer = unique("cust")
    for day in range(5):
        await store(
            db,
            score_doc(customer, risk=0.1 * day, band=ChurnBand.LOW, as_of=T0 + timedelta(days=day)),
        )
    await store(db, score_doc(unique("other"), risk=0.9, band=ChurnBand.CRITICAL, as_of=T0))

    def days(body: Any) -> list[int]:
        return [(datetime.fromisoformat(i["as_of"]) - T0).days for i in body["items"]]

    everything = (await client.get(f"/v1/scores/{customer}/history")).json()
    assert everything["customer_id"] == customer
    assert days(everything) == [4, 3, 2, 1, 0]
    window = await client.get(
        f"/v1/scores/{customer}/history",
        params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-04T00:00:00Z"},
    )
    assert days(window.json()) == [3, 2, 1]
    limited = await client.get(f"/v1/scores/{customer}/history", params={"limit": 2})
    assert days(limited.json()) == [4, 3]
    none = await client.get(f"/v1/scores/{unique('nobody')}/history")
    assert none.status_code == 200
    assert none.json()["items"] == []


async def test_export_ndjson_and_csv(client: httpx.AsyncClient, db: Database) -> None:
    customers = sorted(unique("cust") for _ in range(4))
    for n, customer in enumerate(customers):
        await store(db, score_doc(customer, risk=0.1, band=ChurnBand.LOW, as_of=T0))
        if n % 2 == 0:  # half of them score again later
            await store(
                db,
                score_doc(customer, risk=0.6, band=ChurnBand.HIGH, as_of=T0 + timedelta(days=10)),
            )
    # One customer that only appears after the as_of below.
    late = unique("late")
    await store(db, score_doc(late, risk=0.2, band=ChurnBand.LOW, as_of=T0 + timedelta(days=20)))

    latest = await client.get("/v1/scores/export")
    assert latest.status_code == 200
    assert latest.headers["content-type"].startswith("application/x-ndjson")
    assert "scores-latest.ndjson" in latest.headers["content-disposition"]
    lines = [json.loads(line) for line in latest.text.splitlines()]
    assert len(lines) == 5
    assert [line["customer_id"] for line in lines] == sorted([*customers, late])
    risks = {line["customer_id"]: line["churn"]["risk"] for line in lines}
    assert [risks[c] for c in customers] == [0.6, 0.1, 0.6, 0.1]

    at = (T0 + timedelta(days=5)).isoformat()
    past = await client.get("/v1/scores/export", params={"as_of": at, "format": "csv"})
    assert past.status_code == 200
    assert past.headers["content-type"].startswith("text/csv")
    assert "scores-20260306T000000Z.csv" in past.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(past.text)))
    assert len(past.text.splitlines()) == 1 + 4
    assert past.text.splitlines()[0].startswith("customer_id,as_of,computed_at,model_version")
    assert [row["customer_id"] for row in rows] == customers
    assert {row["churn_risk"] for row in rows} == {"0.1"}
    assert rows[0]["top_reasons"] == "silent_beyond_rhythm;open_complaint;sla_breach"

    later = await client.get(
        "/v1/scores/export", params={"as_of": "2026-12-31T00:00:00Z", "format": "ndjson"}
    )
    later_lines = [json.loads(line) for line in later.text.splitlines()]
    assert len(later_lines) == 5
    assert {line["customer_id"]: line["churn"]["risk"] for line in later_lines} == risks

    before = await client.get("/v1/scores/export", params={"as_of": "2020-01-01T00:00:00Z"})
    assert before.status_code == 200
    assert before.text == ""


async def test_openapi_documents_the_read_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/v1/scores/{customer_id}",
        "/v1/scores/at-risk",
        "/v1/scores/distribution",
        "/v1/scores/{customer_id}/history",
        "/v1/scores/export",
    ):
        assert "get" in paths[path], path
    assert "404" in paths["/v1/scores/{customer_id}"]["get"]["responses"]
    schemas = spec["components"]["schemas"]
    for name in ("ScorePublic", "AtRiskPage", "DistributionPublic", "HistoryPublic"):
        assert schemas[name].get("examples"), name


async def test_export_streams_past_one_cursor_batch(
    client: httpx.AsyncClient, db: Database
) -> None:
    count = 250  # more than the server's first batch (101 documents)
    documents = [
        score_doc(f"bulk-{n:04d}", risk=0.5, band=ChurnBand.MEDIUM, as_of=T0) for n in range(count)
    ]
    await db[SCORES].insert_many(documents)
    async with client.stream("GET", "/v1/scores/export", params={"format": "csv"}) as response:
        assert response.status_code == 200
        lines = [line async for line in response.aiter_lines() if line]
    assert len(lines) == 1 + count
    assert lines[1].startswith("bulk-0000,")
    assert lines[-1].startswith(f"bulk-{count - 1:04d},")
