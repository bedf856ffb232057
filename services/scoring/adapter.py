"""Catalogue events (shared.events) to the scoring domain's inputs: pure, by enum value.

The domain imports nothing from `shared/`; this module is the only place the two vocabularies
meet. Every input takes the event time (`event.time`), never the processing time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.scoring.domain import events as inputs
from services.scoring.domain.vocabulary import (
    Channel,
    Direction,
    RelationshipStage,
    Severity,
    SlaTarget,
)
from shared.events import complaint, customer, interaction
from shared.events.envelope import Event, EventData

__all__ = ["RELEVANT_TYPES", "to_input"]


def _order_placed(event: Event[Any]) -> inputs.Event:
    data: interaction.OrderPlaced = event.data
    return inputs.OrderPlaced(order_id=data.order_id, at=event.time, amount=float(data.amount))


def _order_cancelled(event: Event[Any]) -> inputs.Event:
    data: interaction.OrderCancelled = event.data
    return inputs.OrderCancelled(order_id=data.order_id, at=event.time, amount=float(data.amount))


def _order_returned(event: Event[Any]) -> inputs.Event:
    data: interaction.OrderReturned = event.data
    return inputs.OrderReturned(at=event.time, amount=float(data.amount))


def _interaction(event: Event[Any]) -> inputs.Event:
    data: interaction.InteractionRecorded = event.data
    return inputs.Interaction(
        at=event.time,
        channel=Channel(data.channel.value),
        direction=Direction(data.direction.value),
        sentiment=data.sentiment,
    )


def _complaint_opened(event: Event[Any]) -> inputs.Event:
    data: complaint.ComplaintOpened = event.data
    return inputs.ComplaintOpened(
        complaint_id=data.complaint_id, at=event.time, severity=Severity(data.severity.value)
    )


def _complaint_escalated(event: Event[Any]) -> inputs.Event:
    data: complaint.ComplaintEscalated = event.data
    return inputs.ComplaintEscalated(
        complaint_id=data.complaint_id, at=event.time, level=data.level
    )


def _complaint_resolved(event: Event[Any]) -> inputs.Event:
    data: complaint.ComplaintResolved = event.data
    return inputs.ComplaintResolved(complaint_id=data.complaint_id, at=event.time)


def _complaint_closed(event: Event[Any]) -> inputs.Event:
    data: complaint.ComplaintClosed = event.data
    return inputs.ComplaintClosed(complaint_id=data.complaint_id, at=event.time)


def _complaint_reopened(event: Event[Any]) -> inputs.Event:
    data: complaint.ComplaintReopened = event.data
    return inputs.ComplaintReopened(complaint_id=data.complaint_id, at=event.time)


def _sla_breached(event: Event[Any]) -> inputs.Event:
    data: complaint.ComplaintSlaBreached = event.data
    return inputs.SlaBreached(
        complaint_id=data.complaint_id, at=event.time, target=SlaTarget(data.target.value)
    )


def _survey_answered(event: Event[Any]) -> inputs.Event:
    data: complaint.SurveyAnswered = event.data
    return inputs.SurveyAnswered(at=event.time, score=data.score)


def _profile(event: Event[Any]) -> inputs.Event:
    data: customer.CustomerCreated | customer.CustomerUpdated = event.data
    profile = data.profile
    stage = profile.relationship_stage
    return inputs.ProfileChanged(
        at=event.time,
        key_account=profile.key_account,
        relationship_stage=None if stage is None else RelationshipStage(stage.value),
        created_at=profile.customer_since,
    )


_CONVERTERS: dict[type[EventData], Callable[[Event[Any]], inputs.Event]] = {
    interaction.OrderPlaced: _order_placed,
    interaction.OrderCancelled: _order_cancelled,
    interaction.OrderReturned: _order_returned,
    interaction.InteractionRecorded: _interaction,
    complaint.ComplaintOpened: _complaint_opened,
    complaint.ComplaintEscalated: _complaint_escalated,
    complaint.ComplaintResolved: _complaint_resolved,
    complaint.ComplaintClosed: _complaint_closed,
    complaint.ComplaintReopened: _complaint_reopened,
    complaint.ComplaintSlaBreached: _sla_breached,
    complaint.SurveyAnswered: _survey_answered,
    customer.CustomerCreated: _profile,
    customer.CustomerUpdated: _profile,
}

RELEVANT_TYPES: frozenset[str] = frozenset(data.event_type for data in _CONVERTERS)
"""The catalogue event types that move a score; every other type is skipped (not poison)."""


def to_input(event: Event[Any]) -> inputs.Event | None:
    """The domain input for a catalogue event, or None when the event does not affect scores
    (e.g. complaint assigned, customer merged — merges and erasures are handled elsewhere)."""
    converter = _CONVERTERS.get(type(event.data))
    return None if converter is None else converter(event)
