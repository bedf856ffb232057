"""Catalogue events → scoring inputs, by value, at event time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.scoring import adapter
from services.scoring.domain import events as inputs
from services.scoring.domain.vocabulary import (
    Channel,
    Direction,
    RelationshipStage,
    Severity,
    SlaTarget,
)
from shared.events import EventData, new_event
from shared.events import complaint as c
from shared.events import customer as cu
from shared.events import interaction as i
from shared.events import vocabulary as v

AT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


def convert(data: EventData) -> Any:
    return adapter.to_input(new_event(data, subject="c-1", source="/t", time=AT))


PROFILE = cu.CustomerProfile(
    kind=v.CustomerKind.ORGANISATION,
    name="中山凯达",
    key_account=True,
    relationship_stage=v.RelationshipStage.PARTNER,
    customer_since=SINCE,
)

CASES: list[tuple[EventData, inputs.Event]] = [
    (
        i.OrderPlaced(order_id="o-1", amount=Decimal("1234.50")),
        inputs.OrderPlaced(order_id="o-1", at=AT, amount=1234.5),
    ),
    (
        i.OrderCancelled(order_id="o-1", amount=Decimal("10")),
        inputs.OrderCancelled(order_id="o-1", at=AT, amount=10.0),
    ),
    (
        i.OrderReturned(order_id="o-1", amount=Decimal("5")),
        inputs.OrderReturned(at=AT, amount=5.0),
    ),
    (
        i.InteractionRecorded(
            interaction_id="x",
            channel=v.Channel.WEB_CHAT,
            direction=v.Direction.OUTBOUND,
            sentiment=-0.5,
        ),
        inputs.Interaction(
            at=AT, channel=Channel.WEB_CHAT, direction=Direction.OUTBOUND, sentiment=-0.5
        ),
    ),
    (
        c.ComplaintOpened(
            complaint_id="k",
            category=v.ComplaintCategory.PRODUCT_QUALITY,
            severity=v.Severity.CRITICAL,
            title="leaking cans",
        ),
        inputs.ComplaintOpened(complaint_id="k", at=AT, severity=Severity.CRITICAL),
    ),
    (
        c.ComplaintEscalated(
            complaint_id="k",
            level=2,
            reason=v.EscalationReason.SLA_BREACH,
            severity=v.Severity.HIGH,
        ),
        inputs.ComplaintEscalated(complaint_id="k", at=AT, level=2),
    ),
    (
        c.ComplaintResolved(
            complaint_id="k", validity=v.Validity.UPHELD, root_cause=v.RootCause.QUALITY
        ),
        inputs.ComplaintResolved(complaint_id="k", at=AT),
    ),
    (c.ComplaintClosed(complaint_id="k"), inputs.ComplaintClosed(complaint_id="k", at=AT)),
    (c.ComplaintReopened(complaint_id="k"), inputs.ComplaintReopened(complaint_id="k", at=AT)),
    (
        c.ComplaintSlaBreached(
            complaint_id="k", target=v.SlaTarget.RESOLUTION, due_at=AT, severity=v.Severity.LOW
        ),
        inputs.SlaBreached(complaint_id="k", at=AT, target=SlaTarget.RESOLUTION),
    ),
    (
        c.SurveyAnswered(complaint_id="k", survey_id="s", score=2),
        inputs.SurveyAnswered(at=AT, score=2),
    ),
    (
        c.SurveyAnswered(complaint_id="k", survey_id="s", score=None),
        inputs.SurveyAnswered(at=AT, score=None),
    ),
    (
        cu.CustomerCreated(profile=PROFILE),
        inputs.ProfileChanged(
            at=AT,
            key_account=True,
            relationship_stage=RelationshipStage.PARTNER,
            created_at=SINCE,
        ),
    ),
    (
        cu.CustomerUpdated(
            profile=PROFILE.model_copy(update={"relationship_stage": None, "key_account": False}),
            changed_fields=("key_account",),
        ),
        inputs.ProfileChanged(at=AT, key_account=False, relationship_stage=None, created_at=SINCE),
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES, ids=[type(d).__name__ for d, _ in CASES])
def test_each_relevant_event_becomes_its_input(data: EventData, expected: inputs.Event) -> None:
    assert convert(data) == expected


def test_relevant_types_are_exactly_the_converted_ones() -> None:
    assert {data.event_type for data, _ in CASES} == adapter.RELEVANT_TYPES


@pytest.mark.parametrize(
    "data",
    [
        c.ComplaintAcknowledged(complaint_id="k"),
        c.ComplaintAssigned(complaint_id="k", assignee="a"),
        cu.CustomerErased(),
    ],
)
def test_events_that_do_not_move_scores_become_none(data: EventData) -> None:
    assert convert(data) is None


@pytest.mark.parametrize(
    "vocabulary", ["Channel", "Direction", "Severity", "SlaTarget", "RelationshipStage"]
)
def test_the_two_vocabularies_have_the_same_values(vocabulary: str) -> None:
    from services.scoring.domain import vocabulary as domain

    assert {m.value for m in getattr(domain, vocabulary)} == {
        m.value for m in getattr(v, vocabulary)
    }


def test_event_time_is_kept_in_utc() -> None:
    later = datetime(2026, 5, 1, 17, 30).astimezone()
    event = new_event(
        i.OrderPlaced(order_id="o", amount=Decimal(1)), subject="c", source="/t", time=later
    )
    result = adapter.to_input(event)
    assert isinstance(result, inputs.OrderPlaced)
    assert result.at == later
