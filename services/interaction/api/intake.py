"""Request bodies to domain commands, and batch items to facts (or reasons they were refused).

No I/O: the routes call these, then hand the facts to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.interaction.api.schemas import InteractionCreate, OrderCreate
from services.interaction.domain import activities
from services.interaction.domain.activities import Recorded
from shared.events.interaction import OrderLine

KINDS = ("interaction", "order")


@dataclass(frozen=True)
class Clock:
    """The request's `now` and the accepted skew for event times."""

    now: datetime
    max_future_skew: timedelta

    def event_time(self, at: datetime | None) -> datetime:
        """`at` checked (EventTimeInFuture), or now when not given."""
        if at is None:
            return activities.to_millis(self.now)
        return activities.check_event_time(at, now=self.now, max_future_skew=self.max_future_skew)


def interaction(
    body: InteractionCreate, clock: Clock, *, actor: str | None, correlation_id: str | None = None
) -> Recorded:
    command = activities.RecordInteraction(
        **body.model_dump(exclude={"occurred_at"}), occurred_at=clock.event_time(body.occurred_at)
    )
    return activities.record_interaction(
        command, received_at=clock.now, actor=actor, correlation_id=correlation_id
    )


def order(
    body: OrderCreate, clock: Clock, *, actor: str | None, correlation_id: str | None = None
) -> Recorded:
    command = activities.PlaceOrder(
        customer_id=body.customer_id,
        order_id=body.order_id,
        amount=body.amount,
        ordered_at=clock.event_time(body.ordered_at),
        lines=tuple(OrderLine(**line.model_dump()) for line in body.lines),
        currency=body.currency,
        source_system=body.source_system,
    )
    return activities.place_order(
        command, received_at=clock.now, actor=actor, correlation_id=correlation_id
    )


def summarise(error: ValidationError, limit: int = 5) -> str:
    parts = []
    for detail in error.errors()[:limit]:
        location = ".".join(str(part) for part in detail["loc"]) or "(root)"
        parts.append(f"{location}: {detail['msg']}")
    if error.error_count() > limit:
        parts.append(f"and {error.error_count() - limit} more")
    return "; ".join(parts)


def batch_item(
    raw: dict[str, Any],
    clock: Clock,
    *,
    kind: str | None,
    actor: str | None,
    correlation_id: str | None,
) -> Recorded | str:
    """One batch item as a fact, or the reason it is rejected.

    `kind` is fixed by the endpoint (`/v1/interactions:batch`) or, when None, read from the
    item's own `kind` field (`/v1/batch`).
    """
    item = dict(raw)
    if kind is None:
        kind = item.pop("kind", None)
        if kind not in KINDS:
            return f"kind: must be one of {', '.join(KINDS)}"
    try:
        if kind == "interaction":
            return interaction(
                InteractionCreate.model_validate(item),
                clock,
                actor=actor,
                correlation_id=correlation_id,
            )
        return order(
            OrderCreate.model_validate(item), clock, actor=actor, correlation_id=correlation_id
        )
    except ValidationError as error:
        return summarise(error)
    except ValueError as error:  # an event time in the future
        return str(error)
