"""The customer 360 read models' pure parts: activity summaries, ordering, scrubbing, scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.customer.view360 import (
    activity_entry,
    complaint_fields,
    newer_score,
    score_document,
    scrubbed_activity,
    with_entry,
)
from shared.events import new_event
from shared.events.complaint import ComplaintClosed, ComplaintOpened, ComplaintStatusChanged
from shared.events.interaction import InteractionRecorded, OrderPlaced
from shared.events.scoring import ChurnRisk, LoyaltyScore, ScoreUpdated
from shared.events.vocabulary import (
    Channel,
    ChurnBand,
    ComplaintCategory,
    ComplaintState,
    Direction,
    Lifecycle,
    Severity,
    ValueTier,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def interaction(at: datetime, subject: str = "Valve leakage") -> dict[str, object]:
    event = new_event(
        InteractionRecorded(
            interaction_id=f"i-{at.hour}",
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            agent="wang",
            subject=subject,
        ),
        subject="cus-1",
        source="/test",
        time=at,
    )
    entry = activity_entry(event)
    assert entry is not None
    return entry


def test_activity_summaries_are_kept_newest_first_bounded_and_once() -> None:
    order = new_event(
        OrderPlaced(order_id="SO-1", amount=Decimal("10200.00")),
        subject="cus-1",
        source="/test",
        time=T0 + timedelta(hours=5),
    )
    order_entry = activity_entry(order)
    assert order_entry is not None
    assert order_entry["kind"] == "order_placed" and order_entry["amount"] == "10200.00"
    items: list[dict[str, object]] = []
    for hours in (1, 3, 2):
        items = with_entry(items, interaction(T0 + timedelta(hours=hours)), limit=3)
    items = with_entry(items, order_entry, limit=3)
    items = with_entry(items, order_entry, limit=3)  # a replay adds nothing
    assert [item["at"] for item in items] == [T0 + timedelta(hours=h) for h in (5, 3, 2)]


def test_scrubbing_removes_subjects_and_agents_of_interactions_only() -> None:
    items = scrubbed_activity([interaction(T0)])
    assert items[0]["subject"] is None and items[0]["agent"] is None
    assert items[0]["channel"] == "phone"


def score(as_of: datetime, computed_at: datetime) -> dict[str, object]:
    event = new_event(
        ScoreUpdated(
            loyalty=LoyaltyScore(score=70, band="loyal"),
            churn=ChurnRisk(risk=0.2, band=ChurnBand.LOW, horizon_days=90),
            value_tier=ValueTier.A,
            lifecycle=Lifecycle.ACTIVE,
            trend="flat",
            model_version="m1",
            computed_at=computed_at,
            as_of=as_of,
        ),
        subject="cus-1",
        source="/test",
        time=as_of,
    )
    return score_document(event)


def test_a_score_is_replaced_only_by_a_newer_one() -> None:
    current = score(T0, T0)
    assert newer_score(None, current)
    assert newer_score(current, score(T0 + timedelta(hours=1), T0))
    assert newer_score(current, score(T0, T0 + timedelta(minutes=1)))
    assert not newer_score(current, score(T0 - timedelta(hours=1), T0 + timedelta(hours=2)))


def test_complaint_fields_follow_the_workflow() -> None:
    opened = new_event(
        ComplaintOpened(
            complaint_id="cmp-1",
            category=ComplaintCategory.PRODUCT_QUALITY,
            severity=Severity.HIGH,
            title="Leaking valves",
        ),
        subject="cus-1",
        source="/test",
        time=T0,
    )
    fields = complaint_fields(opened)
    assert fields["state"] == "new" and fields["open"] is True and fields["title"]
    moved = new_event(
        ComplaintStatusChanged(
            complaint_id="cmp-1",
            from_state=ComplaintState.NEW,
            to_state=ComplaintState.IN_PROGRESS,
        ),
        subject="cus-1",
        source="/test",
        time=T0,
    )
    assert complaint_fields(moved)["state"] == "in_progress"
    closed = new_event(
        ComplaintClosed(complaint_id="cmp-1"), subject="cus-1", source="/test", time=T0
    )
    assert complaint_fields(closed)["open"] is False
