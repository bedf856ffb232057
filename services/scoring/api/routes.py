"""REST routes of the scoring read API: decode → read_models query → response. No rules here.

The fixed paths (`at-risk`, `distribution`, `export`) are declared before `/{customer_id}`, so
a customer id can never shadow them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from services.scoring import read_models
from services.scoring.api.export import ExportFormat, export_lines
from services.scoring.api.schemas import (
    AtRiskItem,
    AtRiskPage,
    DistributionPublic,
    HistoryPublic,
    ScorePublic,
)
from services.scoring.domain.vocabulary import LoyaltyBand
from shared.auth import Scope, requires
from shared.events.envelope import UtcDateTime
from shared.events.vocabulary import ChurnBand, Lifecycle, ValueTier
from shared.mongo import Database, Document

router = APIRouter(prefix="/v1/scores", tags=["scores"])

E = TypeVar("E", bound=StrEnum)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No score for the customer"}}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "A naive or malformed time, an unknown filter value or a bad cursor"}
}


def _db(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def _choices(raw: str | None, kind: type[E], name: str) -> list[str]:
    """A comma-separated list of enum values (empty = no filter); 422 on an unknown one."""
    if not raw:
        return []
    values = [part.strip() for part in raw.split(",") if part.strip()]
    allowed = {member.value for member in kind}
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise HTTPException(
            422, f"unknown {name} {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return values


def _public(doc: Document) -> ScorePublic:
    return ScorePublic.of(doc)


@router.get(
    "/at-risk",
    response_model=AtRiskPage,
    responses=_INVALID,
    summary="Customers most at risk of churning",
    dependencies=[requires(Scope.SCORES_READ)],
)
async def at_risk(
    request: Request,
    band: Annotated[
        str | None,
        Query(description="Churn bands, comma-separated (e.g. high,critical); empty = all"),
    ] = "high,critical",
    lifecycle: Annotated[str | None, Query(description="Lifecycle stages, comma-separated")] = None,
    value_tier: Annotated[str | None, Query(description="Value tiers, comma-separated")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor`")] = None,
) -> AtRiskPage:
    """Customers by churn risk, highest first (ties by customer id), with the top reasons,
    trend, value tier, lifecycle and loyalty. Reads `customer_scores` once per page."""
    after = None
    if cursor:
        try:
            after = read_models.AtRiskCursor.decode(cursor)
        except ValueError as error:
            raise HTTPException(422, "malformed cursor; pass a `next_cursor` back") from error
    docs, following = await read_models.at_risk(
        _db(request),
        bands=_choices(band, ChurnBand, "band"),
        lifecycles=_choices(lifecycle, Lifecycle, "lifecycle"),
        value_tiers=_choices(value_tier, ValueTier, "value_tier"),
        limit=limit,
        after=after,
    )
    return AtRiskPage(
        items=[AtRiskItem.of(doc) for doc in docs],
        next_cursor=following.encode() if following else None,
    )


@router.get(
    "/distribution",
    response_model=DistributionPublic,
    summary="How customers are distributed",
    dependencies=[requires(Scope.SCORES_READ)],
)
async def distribution(request: Request) -> DistributionPublic:
    """Counts of customers per churn band, value tier, lifecycle stage and loyalty band
    (latest scores; every known value is listed, zero when no customer has it)."""
    result = await read_models.distribution(_db(request))

    def full(counts: dict[str, int], kind: type[StrEnum]) -> dict[str, int]:
        return {member.value: counts.get(member.value, 0) for member in kind} | counts

    return DistributionPublic(
        customers=result.customers,
        churn_band=full(result.churn_band, ChurnBand),
        value_tier=full(result.value_tier, ValueTier),
        lifecycle=full(result.lifecycle, Lifecycle),
        loyalty_band=full(result.loyalty_band, LoyaltyBand),
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One line per customer (NDJSON: a score object; CSV: header + rows)",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        },
        **_INVALID,
    },
    summary="Stream every customer's score (NDJSON or CSV)",
    dependencies=[requires(Scope.SCORES_READ)],
)
async def export(
    request: Request,
    as_of: Annotated[
        UtcDateTime | None,
        Query(description="RFC 3339 instant; absent = the latest scores"),
    ] = None,
    format: Annotated[ExportFormat, Query(description="ndjson or csv")] = ExportFormat.NDJSON,
) -> StreamingResponse:
    """Every customer's latest score, in customer id order, for BI and offline evaluation.

    Without `as_of` it streams `customer_scores` as it reads it (one document per customer).
    With `as_of` it reads all of `score_history` up to that time and keeps the newest score per
    customer in memory before the first line: O(scores) reading and O(customers) memory.
    """
    db = _db(request)
    docs = read_models.export_latest(db) if as_of is None else read_models.export_as_of(db, as_of)
    media = "text/csv; charset=utf-8" if format is ExportFormat.CSV else "application/x-ndjson"
    stamp = "latest" if as_of is None else as_of.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        export_lines(docs, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="scores-{stamp}.{format.value}"'},
    )


@router.get(
    "/{customer_id}",
    response_model=ScorePublic,
    responses={**_NOT_FOUND, **_INVALID},
    summary="A customer's score, now or as of a time",
    dependencies=[requires(Scope.SCORES_READ)],
)
async def get_score(
    request: Request,
    customer_id: str,
    as_of: Annotated[
        UtcDateTime | None,
        Query(description="RFC 3339 instant with a zone; the latest score at or before it"),
    ] = None,
) -> ScorePublic:
    """The latest score (from `customer_scores`), or with `as_of` the latest score at or
    before that time (from `score_history`; a scan of the history on FerretDB)."""
    db = _db(request)
    if as_of is None:
        doc = await read_models.latest(db, customer_id)
        if doc is None:
            raise HTTPException(404, f"no score for customer {customer_id}")
    else:
        doc = await read_models.as_of(db, customer_id, as_of)
        if doc is None:
            raise HTTPException(
                404, f"no score for customer {customer_id} at or before {as_of.isoformat()}"
            )
    return _public(doc)


@router.get(
    "/{customer_id}/history",
    response_model=HistoryPublic,
    responses=_INVALID,
    summary="A customer's score history, newest first",
    dependencies=[requires(Scope.SCORES_READ)],
)
async def get_history(
    request: Request,
    customer_id: str,
    from_: Annotated[
        UtcDateTime | None, Query(alias="from", description="Earliest as_of (inclusive)")
    ] = None,
    to: Annotated[UtcDateTime | None, Query(description="Latest as_of (inclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> HistoryPublic:
    """Scores with `from <= as_of <= to`, newest first; empty when there are none."""
    if from_ is not None and to is not None and from_ > to:
        raise HTTPException(422, "`from` lies after `to`")
    docs = await read_models.history(_db(request), customer_id, start=from_, end=to, limit=limit)
    return HistoryPublic(customer_id=customer_id, items=[_public(doc) for doc in docs])
