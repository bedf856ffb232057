"""`GET /v1/customers/{id}/360`: profile, latest score, recent activity and open complaints.

Served from the service's own read models (see `services.customer.view360`), never by calling
another service. A merged id resolves to its survivor like `GET /v1/customers/{id}`; the view
then unites the survivor's data with that of every customer merged into it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.customer.api.routes import StoreDep, _load, public
from services.customer.api.schemas import CustomerPublic
from services.customer.view360 import View360Store
from shared.auth import HidesContacts, Scope, requires
from shared.mongo import Document

router = APIRouter(prefix="/v1/customers", tags=["customer 360"])


def get_views(request: Request) -> View360Store:
    views: View360Store = request.app.state.views
    return views


ViewsDep = Annotated[View360Store, Depends(get_views)]


class Score360(BaseModel):
    loyalty: dict[str, Any] = Field(examples=[{"score": 72.5, "band": "loyal"}])
    churn: dict[str, Any] = Field(
        description="risk (0–1), band, horizon_days and the top reasons",
        examples=[{"risk": 0.31, "band": "medium", "horizon_days": 90, "reasons": []}],
    )
    value_tier: str
    lifecycle: str
    trend: str
    model_version: str
    computed_at: datetime
    as_of: datetime


class Activity360(BaseModel):
    event_id: str
    type: str
    kind: str = Field(description="interaction, order_placed, order_cancelled or order_returned")
    at: datetime
    interaction_id: str | None = None
    channel: str | None = None
    direction: str | None = None
    agent: str | None = None
    subject: str | None = None
    outcome: str | None = None
    order_id: str | None = None
    amount: str | None = None
    currency: str | None = None


class Complaint360(BaseModel):
    complaint_id: str
    state: str | None = None
    severity: str | None = None
    category: str | None = None
    title: str | None = None
    opened_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    escalation_level: int | None = None
    assignee: str | None = None
    sla_breached: bool = False


class Customer360(BaseModel):
    profile: CustomerPublic
    score: Score360 | None = Field(description="null until the scorer published one")
    recent_activity: list[Activity360] = Field(description="Interactions and orders, newest first")
    open_complaints: list[Complaint360]


def _complaint(doc: Document) -> Complaint360:
    return Complaint360.model_validate({**doc, "complaint_id": doc["_id"]})


@router.get(
    "/{customer_id}/360",
    response_model=Customer360,
    responses={404: {"description": "No such customer"}, 410: {"description": "Deleted"}},
    summary="Customer 360: profile, latest score, recent activity, open complaints",
    dependencies=[requires(Scope.CUSTOMERS_READ)],
)
async def customer_360(
    customer_id: str, store: StoreDep, views: ViewsDep, hide_contacts: HidesContacts
) -> Customer360:
    """Read models are fed asynchronously from the event topics, so a just-recorded event may
    take a moment to show. A merged id answers with its survivor's view."""
    doc = await _load(store, customer_id, follow_merged=True)
    view = await views.view(doc["_id"])
    score = view["score"]
    return Customer360(
        profile=public(doc, hide_contacts=hide_contacts),
        score=Score360.model_validate(score) if score is not None else None,
        recent_activity=[Activity360.model_validate(item) for item in view["recent_activity"]],
        open_complaints=[_complaint(c) for c in view["open_complaints"]],
    )
