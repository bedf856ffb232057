"""REST routes: decode → command → domain → store. No rules live here.

Single facts answer 201 when recorded and 200 when the same fact was already there (same
source id). Batches answer 200 with one result per item; a bad item rejects only itself.

A fact may name its customer by a reference instead of an id (`phone:…`, `email:…`,
`erp:…`, as on the ingest topic): it is recorded under the customer that has it, or parked
(202, status "parked") until such a customer appears, and then recorded.

A customer id the archive merged away keeps resolving, as in the customer service: facts sent
for it are recorded under the survivor (the answer's `customer_id` names it), and its timeline
and contact statistics answer 200 with the survivor's (`Content-Location` names the survivor's
resource). Facts for an erased customer get 410 (in a batch: that item is rejected).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from services.interaction.api import intake
from services.interaction.api.intake import Clock
from services.interaction.api.schemas import (
    BatchItemResult,
    BatchRequest,
    BatchResult,
    ContactStatsPublic,
    InteractionCreate,
    OrderCancel,
    OrderCreate,
    OrderReturn,
    ParkedEvent,
    RecordedPublic,
    TimelineEntry,
    TimelinePage,
)
from services.interaction.domain import activities, references, timeline
from services.interaction.domain.activities import Kind, Recorded
from services.interaction.domain.merge import ErasedCustomer
from services.interaction.settings import Settings
from services.interaction.store import (
    ActivityStore,
    CustomerStatusStore,
    Outcome,
    ReferenceStore,
)
from shared.auth import Actor, Scope, requires
from shared.events import utc_now
from shared.events.envelope import EventTimeInFuture, UtcDateTime
from shared.events.vocabulary import Channel

router = APIRouter(prefix="/v1", tags=["interactions"])


def get_store(request: Request) -> ActivityStore:
    store: ActivityStore = request.app.state.activities
    return store


def get_references(request: Request) -> ReferenceStore:
    refs: ReferenceStore = request.app.state.references
    return refs


def get_customer_status(request: Request) -> CustomerStatusStore:
    status: CustomerStatusStore = request.app.state.customer_status
    return status


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_clock(request: Request) -> Clock:
    settings: Settings = request.app.state.settings
    return Clock(now=utc_now(), max_future_skew=settings.event_max_future_skew)


StoreDep = Annotated[ActivityStore, Depends(get_store)]
ReferencesDep = Annotated[ReferenceStore, Depends(get_references)]
StatusDep = Annotated[CustomerStatusStore, Depends(get_customer_status)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
CorrelationId = Annotated[
    str | None, Header(alias="X-Correlation-Id", max_length=128, description="Request id")
]

_RECORDED: dict[int | str, dict[str, Any]] = {
    200: {"model": RecordedPublic, "description": "Already recorded (same source id)"},
    202: {
        "model": RecordedPublic,
        "description": "Parked: addressed by a reference no customer has yet",
    },
    410: {"description": "The customer was erased; no facts are recorded for it"},
}


async def _by_reference(refs: ReferenceStore, recorded: Recorded, clock: Clock) -> Recorded | None:
    """A fact addressed by a customer reference, readdressed to the customer that has it;
    None when none has it yet: then it is parked, and recorded when that customer appears
    (the same path as the ingest topic's). A fact addressed by customer id is returned as is;
    raises InvalidReference for a reference scheme with an unusable value."""
    reference = references.reference_in(recorded.document["customer_id"])
    if reference is None:
        return recorded
    customer_id = await refs.resolve_or_park(
        reference, recorded.event, at=clock.now, fact=recorded.document
    )
    if customer_id is None:
        return None
    return activities.resolved_reference(recorded, customer_id)


async def _record(
    store: ActivityStore,
    status: CustomerStatusStore,
    decide: Any,
    clock: Clock,
    refs: ReferenceStore | None = None,
) -> JSONResponse:
    try:
        recorded: Recorded = decide()
    except EventTimeInFuture as error:
        raise HTTPException(422, str(error)) from error
    if refs is not None:
        try:
            resolved = await _by_reference(refs, recorded, clock)
        except references.InvalidReference as error:
            raise HTTPException(422, f"customer_id: {error}") from error
        if resolved is None:
            parked = RecordedPublic(
                id=recorded.id,
                kind=Kind(recorded.document["kind"]),
                customer_id=recorded.document["customer_id"],
                status="parked",
                event_id=recorded.event.id,
            )
            return JSONResponse(parked.model_dump(mode="json"), status_code=202)
        recorded = resolved
    try:
        recorded = await status.addressed(recorded)
    except ErasedCustomer as error:
        raise HTTPException(410, str(error)) from error
    created = await store.insert(recorded, queued_at=clock.now)
    body = RecordedPublic(
        id=recorded.id,
        kind=Kind(recorded.document["kind"]),
        customer_id=recorded.document["customer_id"],
        status="accepted" if created else "duplicate",
        event_id=recorded.event.id,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


@router.post(
    "/interactions",
    status_code=201,
    response_model=RecordedPublic,
    responses=_RECORDED,
    summary="Record a contact",
    dependencies=[requires(Scope.INGEST_WRITE)],
)
async def record_interaction(
    body: InteractionCreate,
    store: StoreDep,
    refs: ReferencesDep,
    status: StatusDep,
    clock: ClockDep,
    actor: Actor,
    correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Record one contact; emits `crm.interaction.recorded.v1`. Idempotent by
    (source_system, external_id)."""
    return await _record(
        store,
        status,
        lambda: intake.interaction(body, clock, actor=actor, correlation_id=correlation_id),
        clock,
        refs,
    )


@router.post(
    "/orders",
    status_code=201,
    response_model=RecordedPublic,
    responses=_RECORDED,
    summary="Record a placed order",
    dependencies=[requires(Scope.INGEST_WRITE)],
)
async def place_order(
    body: OrderCreate,
    store: StoreDep,
    refs: ReferencesDep,
    status: StatusDep,
    clock: ClockDep,
    actor: Actor,
    correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Record one order; emits `crm.order.placed.v1`. Idempotent by order id."""
    return await _record(
        store,
        status,
        lambda: intake.order(body, clock, actor=actor, correlation_id=correlation_id),
        clock,
        refs,
    )


async def _order(store: ActivityStore, order_id: str) -> dict[str, Any]:
    order = await store.get(activities.order_doc_id(order_id))
    if order is None:
        raise HTTPException(404, f"no order {order_id}")
    return order


@router.post(
    "/orders/{order_id}/cancel",
    status_code=201,
    response_model=RecordedPublic,
    responses={**_RECORDED, 404: {"description": "No such order"}},
    summary="Cancel an order",
    dependencies=[requires(Scope.INGEST_WRITE)],
)
async def cancel_order(
    order_id: str,
    store: StoreDep,
    status: StatusDep,
    clock: ClockDep,
    actor: Actor,
    body: OrderCancel | None = None,
    correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Record the order's cancellation (once per order); emits `crm.order.cancelled.v1`."""
    body = body or OrderCancel()
    order = await _order(store, order_id)
    return await _record(
        store,
        status,
        lambda: activities.cancel_order(
            activities.CancelOrder(
                order_id=order_id,
                cancelled_at=clock.event_time(body.cancelled_at),
                amount=body.amount,
                reason=body.reason,
            ),
            order,
            received_at=clock.now,
            actor=actor,
            correlation_id=correlation_id,
        ),
        clock,
    )


@router.post(
    "/orders/{order_id}/return",
    status_code=201,
    response_model=RecordedPublic,
    responses={**_RECORDED, 404: {"description": "No such order"}},
    summary="Record a return against an order",
    dependencies=[requires(Scope.INGEST_WRITE)],
)
async def return_order(
    order_id: str,
    body: OrderReturn,
    store: StoreDep,
    status: StatusDep,
    clock: ClockDep,
    actor: Actor,
    correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Record one return (idempotent by return_id); emits `crm.order.returned.v1`."""
    order = await _order(store, order_id)
    return await _record(
        store,
        status,
        lambda: activities.return_order(
            activities.ReturnOrder(
                order_id=order_id,
                return_id=body.return_id,
                amount=body.amount,
                returned_at=clock.event_time(body.returned_at),
                reason=body.reason,
            ),
            order,
            received_at=clock.now,
            actor=actor,
            correlation_id=correlation_id,
        ),
        clock,
    )


async def _batch(
    body: BatchRequest,
    store: ActivityStore,
    refs: ReferenceStore,
    status: CustomerStatusStore,
    clock: Clock,
    *,
    kind: str | None,
    actor: str | None,
    correlation_id: str | None,
) -> BatchResult:
    results: list[BatchItemResult] = []
    good: list[tuple[int, Recorded]] = []
    for index, raw in enumerate(body.items):
        item = intake.batch_item(raw, clock, kind=kind, actor=actor, correlation_id=correlation_id)
        if isinstance(item, str):
            results.append(BatchItemResult(index=index, status="rejected", reason=item))
            continue
        try:
            resolved = await _by_reference(refs, item, clock)
        except references.InvalidReference as error:
            results.append(
                BatchItemResult(index=index, status="rejected", reason=f"customer_id: {error}")
            )
            continue
        if resolved is None:
            results.append(BatchItemResult(index=index, status="parked", id=item.id))
        else:
            good.append((index, resolved))
    addressed = await status.addressed_many([recorded for _, recorded in good])
    kept: list[tuple[int, Recorded]] = []
    for (index, _), fact in zip(good, addressed, strict=True):
        if isinstance(fact, str):  # an erased customer's
            results.append(BatchItemResult(index=index, status="rejected", reason=fact))
        else:
            kept.append((index, fact))
    outcomes = await store.insert_many([r for _, r in kept], queued_at=clock.now)
    for (index, recorded), (outcome, reason) in zip(kept, outcomes, strict=True):
        results.append(
            BatchItemResult(index=index, status=outcome.value, id=recorded.id, reason=reason)
        )
    results.sort(key=lambda result: result.index)
    counts = {outcome: 0 for outcome in Outcome}
    for result in results:
        counts[Outcome(result.status)] += 1
    return BatchResult(
        accepted=counts[Outcome.ACCEPTED],
        duplicate=counts[Outcome.DUPLICATE],
        rejected=counts[Outcome.REJECTED],
        parked=counts[Outcome.PARKED],
        results=results,
    )


@router.post(
    "/interactions:batch",
    response_model=BatchResult,
    responses={429: {"description": "Too many batches in flight; retry after Retry-After"}},
    summary="Record up to 1000 contacts",
    dependencies=[requires(Scope.INGEST_WRITE)],
)
async def record_interactions(
    body: BatchRequest,
    store: StoreDep,
    refs: ReferencesDep,
    status: StatusDep,
    clock: ClockDep,
    actor: Actor,
    correlation_id: CorrelationId = None,
) -> BatchResult:
    """Each item is an interaction body; one result per item (accepted, duplicate, rejected,
    parked)."""
    return await _batch(
        body,
        store,
        refs,
        status,
        clock,
        kind="interaction",
        actor=actor,
        correlation_id=correlation_id,
    )


@router.post(
    "/batch",
    response_model=BatchResult,
    responses={429: {"description": "Too many batches in flight; retry after Retry-After"}},
    summary="Record up to 1000 contacts and orders",
    dependencies=[requires(Scope.INGEST_WRITE)],
)
async def record_batch(
    body: BatchRequest,
    store: StoreDep,
    refs: ReferencesDep,
    status: StatusDep,
    clock: ClockDep,
    actor: Actor,
    correlation_id: CorrelationId = None,
) -> BatchResult:
    """Each item has `kind` (interaction or order) and that kind's body."""
    return await _batch(
        body, store, refs, status, clock, kind=None, actor=actor, correlation_id=correlation_id
    )


async def _survivor(
    status: CustomerStatusStore, customer_id: str, response: Response, resource: str
) -> str:
    """The id whose facts answer for `customer_id`: the survivor when it was merged away.

    200 with the survivor's data rather than a redirect, as the customer service answers for
    merged ids. An erased customer answers with what is left: facts without personal data.
    """
    survivor = (await status.resolve(customer_id)).customer_id
    if survivor != customer_id:
        response.headers["Content-Location"] = f"/v1/customers/{survivor}/{resource}"
    return survivor


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=TimelinePage,
    summary="A customer's contacts and orders, newest first",
    dependencies=[requires(Scope.INTERACTIONS_READ)],
)
async def customer_timeline(
    customer_id: str,
    store: StoreDep,
    status: StatusDep,
    response: Response,
    channel: Channel | None = None,
    kind: Kind | None = None,
    from_: Annotated[UtcDateTime | None, Query(alias="from")] = None,
    to: UtcDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> TimelinePage:
    """Entries with event time in [from, to); follow `next_cursor` for older ones. A merged
    customer's id answers with the survivor's timeline (`Content-Location` names it)."""
    customer_id = await _survivor(status, customer_id, response, "timeline")
    query = timeline.TimelineQuery(
        channel=channel.value if channel else None,
        kind=kind,
        since=from_,
        until=to,
        limit=limit,
        cursor=cursor,
    )
    try:
        page = timeline.timeline_page(await store.of_customer(customer_id), query)
    except timeline.InvalidCursor as error:
        raise HTTPException(422, str(error)) from error
    return TimelinePage(
        items=[TimelineEntry.of(doc) for doc in page.entries], next_cursor=page.next_cursor
    )


@router.get(
    "/customers/{customer_id}/contact-stats",
    response_model=ContactStatsPublic,
    summary="Last contact per channel, contacts in the last 30/90 days",
    dependencies=[requires(Scope.INTERACTIONS_READ)],
)
async def customer_contact_stats(
    customer_id: str,
    store: StoreDep,
    status: StatusDep,
    response: Response,
    as_of: UtcDateTime | None = None,
) -> ContactStatsPublic:
    """Statistics as of `as_of` (default now), over the customer's contacts and orders. A
    merged customer's id answers with the survivor's (`customer_id` and `Content-Location`
    name it)."""
    customer_id = await _survivor(status, customer_id, response, "contact-stats")
    moment: datetime = as_of or utc_now()
    stats = timeline.contact_stats(await store.of_customer(customer_id), as_of=moment)
    return ContactStatsPublic(customer_id=customer_id, **stats.__dict__)


@router.get(
    "/parked",
    response_model=list[ParkedEvent],
    summary="Ingested events waiting for their customer to appear",
    dependencies=[requires(Scope.INTERACTIONS_READ)],
)
async def parked_events(refs: ReferencesDep) -> list[ParkedEvent]:
    """Events addressed by a customer reference (phone, e-mail, ERP code) that no known
    customer has yet, oldest first; each is recorded as soon as such a customer appears."""
    return [
        ParkedEvent(id=doc["_id"], reference=doc["ref"], parked_at=doc["at"])
        for doc in await refs.all_parked()
    ]
