"""Queries behind the scoring read API, over what the worker writes (services/scoring/outputs.py).

- `customer_scores`: one document per customer, `_id` = customer id (the latest score).
- `score_history`: one document per score, `_id` = score event id, with `customer_id`, `as_of`.

Both hold the score as text with a few fields beside it (`outputs.score_document`); every
function here hands out scores as `outputs.score_of` gives them back.

Costs on FerretDB 1.24 (docs/development.md): only a filter that is exactly `{"_id": ...}` is
served from an index, so `latest` is a point lookup and everything else reads the collection it
asks: `at_risk`, `distribution` and `export_latest` read `customer_scores` (one document per
customer); `as_of`, `history` and `export_as_of` read `score_history`, which grows with every
score (O(total scores)). On MongoDB 7 the same queries are served by ordinary indexes where they
exist. Only simple `find` with filter/sort/limit is used; counting and folding run in Python.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.scoring.outputs import HISTORY, SCORES, score_of
from shared.mongo import Database, Document


async def latest(db: Database, customer_id: str) -> Document | None:
    """The customer's latest score (an `_id` lookup: indexed everywhere)."""
    doc = await db[SCORES].find_one({"_id": customer_id})
    return None if doc is None else score_of(doc)


async def as_of(db: Database, customer_id: str, at: datetime) -> Document | None:
    """The customer's latest score at or before `at`, from `score_history`."""
    cursor = (
        db[HISTORY]
        .find({"customer_id": customer_id, "as_of": {"$lte": at}})
        .sort([("as_of", -1), ("_id", -1)])
        .limit(1)
    )
    async for doc in cursor:
        return score_of(doc)
    return None


async def history(
    db: Database,
    customer_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[Document]:
    """The customer's scores with `start <= as_of <= end`, newest first, at most `limit`."""
    filters: dict[str, Any] = {"customer_id": customer_id}
    window: dict[str, datetime] = {}
    if start is not None:
        window["$gte"] = start
    if end is not None:
        window["$lte"] = end
    if window:
        filters["as_of"] = window
    cursor = db[HISTORY].find(filters).sort([("as_of", -1), ("_id", -1)]).limit(limit)
    return [score_of(doc) async for doc in cursor]


@dataclass(frozen=True, slots=True)
class AtRiskCursor:
    """Where a page of the at-risk list ended: the last item's risk and customer id."""

    risk: float
    customer_id: str

    def encode(self) -> str:
        # repr round-trips a float exactly, so the next page starts exactly after this item.
        return f"{self.risk!r}|{self.customer_id}"

    @classmethod
    def decode(cls, text: str) -> AtRiskCursor:
        """Raises ValueError on anything `encode` did not produce."""
        risk, sep, customer_id = text.partition("|")
        if not sep or not customer_id:
            raise ValueError("malformed cursor")
        value = float(risk)
        if not 0.0 <= value <= 1.0:
            raise ValueError("malformed cursor")
        return cls(value, customer_id)


async def at_risk(
    db: Database,
    *,
    bands: Sequence[str] = (),
    lifecycles: Sequence[str] = (),
    value_tiers: Sequence[str] = (),
    limit: int,
    after: AtRiskCursor | None = None,
) -> tuple[list[Document], AtRiskCursor | None]:
    """Customers by churn risk descending (ties by id ascending); the page and the next cursor."""
    filters: dict[str, Any] = {}
    if bands:
        filters["churn.band"] = {"$in": list(bands)}
    if lifecycles:
        filters["lifecycle"] = {"$in": list(lifecycles)}
    if value_tiers:
        filters["value_tier"] = {"$in": list(value_tiers)}
    if after is not None:
        filters["$or"] = [
            {"churn.risk": {"$lt": after.risk}},
            {"churn.risk": after.risk, "_id": {"$gt": after.customer_id}},
        ]
    cursor = db[SCORES].find(filters).sort([("churn.risk", -1), ("_id", 1)]).limit(limit + 1)
    docs = [score_of(doc) async for doc in cursor]
    page = docs[:limit]
    following = None
    if len(docs) > limit:
        last = page[-1]
        following = AtRiskCursor(float(last["churn"]["risk"]), str(last["_id"]))
    return page, following


@dataclass(frozen=True, slots=True)
class Distribution:
    customers: int
    churn_band: dict[str, int]
    value_tier: dict[str, int]
    lifecycle: dict[str, int]
    loyalty_band: dict[str, int]


async def distribution(db: Database) -> Distribution:
    """Counts per churn band, value tier, lifecycle and loyalty band (one collection read)."""
    churn: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    loyalty: Counter[str] = Counter()
    total = 0
    projection = {"churn.band": 1, "value_tier": 1, "lifecycle": 1, "loyalty.band": 1}
    async for doc in db[SCORES].find({}, projection):
        total += 1
        churn[str(doc["churn"]["band"])] += 1
        tiers[str(doc["value_tier"])] += 1
        stages[str(doc["lifecycle"])] += 1
        loyalty[str(doc["loyalty"]["band"])] += 1
    return Distribution(total, dict(churn), dict(tiers), dict(stages), dict(loyalty))


async def export_latest(db: Database) -> AsyncIterator[Document]:
    """Every customer's latest score, in customer id order, streamed from `customer_scores`."""
    cursor = db[SCORES].find({}).sort("_id", 1)
    try:
        async for doc in cursor:
            yield score_of(doc)
    finally:  # the client went away mid-stream: free the server-side cursor now
        await cursor.close()


async def export_as_of(db: Database, at: datetime) -> AsyncIterator[Document]:
    """Every customer's latest score at or before `at`, in customer id order.

    Reads every history document up to `at` once and keeps the newest per customer in memory
    (O(customers) memory, O(scores up to `at`) reading) before the first line goes out.
    """
    newest: dict[str, Document] = {}
    async for doc in db[HISTORY].find({"as_of": {"$lte": at}}):
        customer_id = str(doc["customer_id"])
        kept = newest.get(customer_id)
        if kept is None or (doc["as_of"], str(doc["_id"])) > (kept["as_of"], str(kept["_id"])):
            newest[customer_id] = doc
    for customer_id in sorted(newest):
        yield score_of(newest[customer_id])
