"""Contacts and orders (topic crm.interaction.v1)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import EventData
from shared.events.vocabulary import Channel, Direction


class InteractionRecorded(EventData):
    """A contact with the customer on any channel; the event time is when it happened."""

    event_type = "crm.interaction.recorded.v1"
    interaction_id: str = Field(max_length=128)
    channel: Channel
    direction: Direction
    agent: str | None = Field(default=None, max_length=128)
    duration_s: int | None = Field(default=None, ge=0)
    subject: str | None = Field(default=None, max_length=500)
    outcome: str | None = Field(default=None, max_length=100)
    sentiment: float | None = Field(default=None, ge=-1, le=1)
    source_system: str | None = Field(default=None, max_length=100)


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    product_code: str = Field(max_length=64)
    segment: str | None = Field(default=None, max_length=64)
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class OrderPlaced(EventData):
    """The customer placed an order (drives recency, frequency and monetary value)."""

    event_type = "crm.order.placed.v1"
    order_id: str = Field(max_length=128)
    lines: tuple[OrderLine, ...] = ()
    amount: Decimal = Field(ge=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


class OrderCancelled(EventData):
    """A placed order was cancelled before delivery."""

    event_type = "crm.order.cancelled.v1"
    order_id: str = Field(max_length=128)
    amount: Decimal = Field(ge=0, description="The cancelled order's amount")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    reason: str | None = Field(default=None, max_length=200)


class OrderReturned(EventData):
    """Delivered goods were returned (all or part of an order)."""

    event_type = "crm.order.returned.v1"
    order_id: str = Field(max_length=128)
    amount: Decimal = Field(ge=0, description="Value of the returned goods")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    reason: str | None = Field(default=None, max_length=200)
