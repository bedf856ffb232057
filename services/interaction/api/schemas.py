"""Request and response bodies of the interaction API (pydantic v2, one family per resource).

Request bodies forbid unknown fields, so a misspelt field is a 422 rather than silently lost.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.interaction.domain.activities import Kind
from shared.events.envelope import CustomerId, UtcDateTime
from shared.events.vocabulary import Channel, Direction

Currency = Field(default="CNY", pattern=r"^[A-Z]{3}$")


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InteractionCreate(RequestBody):
    customer_id: CustomerId
    channel: Channel
    direction: Direction
    agent: str | None = Field(default=None, max_length=128)
    duration_s: int | None = Field(default=None, ge=0)
    subject: str | None = Field(default=None, max_length=500)
    outcome: str | None = Field(default=None, max_length=100)
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    summary: str | None = Field(default=None, max_length=10_000)
    occurred_at: UtcDateTime | None = Field(
        default=None, description="When it happened (event time; any past is fine); default now"
    )
    source_system: str = Field(min_length=1, max_length=100, description="Who sends it")
    external_id: str = Field(
        min_length=1,
        max_length=128,
        description="The source system's id of this contact; sending it again records nothing",
    )


class OrderLineIn(RequestBody):
    product_code: str = Field(min_length=1, max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class OrderCreate(RequestBody):
    customer_id: CustomerId
    order_id: str = Field(
        min_length=1, max_length=128, description="The order's id; placing it again is a no-op"
    )
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=500)
    amount: Decimal = Field(ge=0)
    currency: str = Currency
    ordered_at: UtcDateTime | None = Field(default=None, description="Event time; default now")
    source_system: str | None = Field(default=None, min_length=1, max_length=100)


class OrderCancel(RequestBody):
    amount: Decimal | None = Field(default=None, ge=0, description="Default: the order's amount")
    reason: str | None = Field(default=None, max_length=200)
    cancelled_at: UtcDateTime | None = Field(default=None, description="Event time; default now")


class OrderReturn(RequestBody):
    return_id: str = Field(
        min_length=1, max_length=128, description="The source's id of this return (idempotency)"
    )
    amount: Decimal = Field(ge=0, description="Value of the returned goods")
    reason: str | None = Field(default=None, max_length=200)
    returned_at: UtcDateTime | None = Field(default=None, description="Event time; default now")


class BatchRequest(RequestBody):
    # Items stay raw here: each is validated on its own, so one bad item rejects only itself.
    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1000 items; on /v1/batch each has `kind`: interaction or order",
    )


Status = Literal["accepted", "duplicate", "rejected", "parked"]


class RecordedPublic(BaseModel):
    id: str
    kind: Kind
    customer_id: str = Field(
        description="The customer it is recorded under (a merged id's survivor, or the "
        "customer a reference belongs to); the reference itself while parked"
    )
    status: Literal["accepted", "duplicate", "parked"]
    event_id: str


class BatchItemResult(BaseModel):
    index: int
    status: Status
    id: str | None = None
    reason: str | None = None


class BatchResult(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    parked: int = Field(
        default=0, description="Addressed by a reference no customer has yet: recorded later"
    )
    results: list[BatchItemResult]


class TimelineEntry(BaseModel):
    id: str
    kind: Kind
    customer_id: str
    occurred_at: datetime
    received_at: datetime
    channel: str | None = None
    direction: str | None = None
    agent: str | None = None
    duration_s: int | None = None
    subject: str | None = None
    outcome: str | None = None
    sentiment: float | None = None
    summary: str | None = None
    source_system: str | None = None
    external_id: str | None = None
    order_id: str | None = None
    return_id: str | None = None
    lines: list[dict[str, Any]] | None = None
    amount: Decimal | None = None
    currency: str | None = None
    reason: str | None = None
    erased_at: datetime | None = Field(
        default=None, description="When the customer's personal data was removed from it"
    )

    @classmethod
    def of(cls, doc: dict[str, Any]) -> TimelineEntry:
        fields = {k: v for k, v in doc.items() if k != "_id" and k in cls.model_fields}
        return cls(id=doc["_id"], **fields)


class TimelinePage(BaseModel):
    items: list[TimelineEntry]
    next_cursor: str | None


class ContactStatsPublic(BaseModel):
    customer_id: str
    as_of: datetime
    last_contact_at: datetime | None
    last_contact_by_channel: dict[str, datetime]
    contacts_30d: int
    contacts_90d: int
    contacts_total: int
    last_order_at: datetime | None
    orders_90d: int


class ParkedEvent(BaseModel):
    id: str
    reference: str
    parked_at: datetime
