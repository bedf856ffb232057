"""The one catalogue of event types: CloudEvents `type` → data model → topic.

Adding an event type means adding its data model in this package and one line below; the JSON
Schemas and docs/asyncapi.yaml are generated from here (`python -m shared.events.docs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from shared import topics
from shared.events import complaint, customer, interaction, scoring
from shared.events.envelope import Event, EventData
from shared.topics import TopicSpec


@dataclass(frozen=True)
class EventSpec:
    """One event type as the product declares it."""

    data: type[EventData]
    topic: TopicSpec

    @property
    def event_type(self) -> str:
        return self.data.event_type

    @property
    def summary(self) -> str:
        doc = self.data.__doc__ or self.event_type
        return " ".join(doc.split())

    @cached_property
    def event_model(self) -> type[Event[Any]]:
        """The full envelope model, `Event[<data>]`."""
        return cast("type[Event[Any]]", Event.__class_getitem__(self.data))


_SPECS = (
    EventSpec(customer.CustomerCreated, topics.CUSTOMER),
    EventSpec(customer.CustomerUpdated, topics.CUSTOMER),
    EventSpec(customer.CustomerMerged, topics.CUSTOMER),
    EventSpec(customer.CustomerErased, topics.CUSTOMER),
    EventSpec(interaction.InteractionRecorded, topics.INTERACTION),
    EventSpec(interaction.OrderPlaced, topics.INTERACTION),
    EventSpec(interaction.OrderCancelled, topics.INTERACTION),
    EventSpec(interaction.OrderReturned, topics.INTERACTION),
    EventSpec(complaint.ComplaintOpened, topics.COMPLAINT),
    EventSpec(complaint.ComplaintAcknowledged, topics.COMPLAINT),
    EventSpec(complaint.ComplaintAssigned, topics.COMPLAINT),
    EventSpec(complaint.ComplaintEscalated, topics.COMPLAINT),
    EventSpec(complaint.ComplaintStatusChanged, topics.COMPLAINT),
    EventSpec(complaint.ComplaintResolved, topics.COMPLAINT),
    EventSpec(complaint.ComplaintReopened, topics.COMPLAINT),
    EventSpec(complaint.ComplaintClosed, topics.COMPLAINT),
    EventSpec(complaint.ComplaintSlaBreached, topics.COMPLAINT),
    EventSpec(complaint.SurveyAnswered, topics.COMPLAINT),
    EventSpec(scoring.ScoreUpdated, topics.SCORES),
    EventSpec(scoring.ChurnAlertRaised, topics.ALERTS),
    EventSpec(scoring.LoyaltyDropped, topics.ALERTS),
)

CATALOGUE: dict[str, EventSpec] = {spec.event_type: spec for spec in _SPECS}


class UnknownEventType(KeyError):
    """The `type` is not in the catalogue."""


def spec_for(event_type: str) -> EventSpec:
    try:
        return CATALOGUE[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def spec_of(data: type[EventData]) -> EventSpec:
    return spec_for(data.event_type)


def types_on(topic: TopicSpec) -> list[EventSpec]:
    """The event types published on a topic, in catalogue order."""
    return [spec for spec in _SPECS if spec.topic == topic]
