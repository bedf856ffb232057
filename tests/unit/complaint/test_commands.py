"""What complaint commands decide: state, SLA clock and events, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.complaint import commands
from services.complaint.domain.sla import Breach, SlaTarget
from services.complaint.domain.workflow import (
    Category,
    ComplaintState,
    IllegalTransition,
    InvalidSubcategory,
    Resolution,
    RootCause,
    Severity,
    Subcategory,
    Validity,
)
from shared.mongo import Document

OPENED = datetime(2026, 11, 16, 2, 0, 0, 123456, tzinfo=UTC)  # Monday 10:00 Shanghai


def opened(
    severity: Severity = Severity.HIGH, external_id: str | None = None
) -> tuple[Document, str]:
    command = commands.OpenComplaint(
        customer_id="c-1",
        category=Category.PRODUCT_QUALITY,
        subcategory=Subcategory.LEAKAGE,
        severity=severity,
        channel=None,
        title="Leaking cans",
        description="",
        order_id=None,
        external_id=external_id,
        reported_at=OPENED,
        actor="agent-7",
    )
    doc, event = commands.open_complaint(command, received_at=OPENED)
    return doc, event.type


def applied(doc: Document, change: commands.Change) -> Document:
    return doc | change.set | {"version": doc["version"] + 1}


def types(change: commands.Change) -> list[str]:
    return [event.type for event in change.events]


def test_open_sets_due_times_and_cuts_to_milliseconds() -> None:
    doc, event_type = opened()
    assert event_type == "crm.complaint.opened.v1"
    assert doc["reported_at"].microsecond == 123000
    assert doc["first_response_due"] == datetime(2026, 11, 16, 6, 0, 0, 123000, tzinfo=UTC)
    assert doc["state"] == "new"


def test_same_external_id_gives_the_same_complaint_id() -> None:
    assert opened(external_id="x")[0]["_id"] == opened(external_id="x")[0]["_id"]
    assert opened()[0]["_id"] != opened()[0]["_id"]


def test_subcategory_must_fit_the_category() -> None:
    command = commands.OpenComplaint(
        customer_id="c-1",
        category=Category.BILLING,
        subcategory=Subcategory.LATE,
        severity=Severity.LOW,
        channel=None,
        title="t",
        description="",
        order_id=None,
        external_id=None,
        reported_at=OPENED,
        actor=None,
    )
    with pytest.raises(InvalidSubcategory):
        commands.open_complaint(command, received_at=OPENED)


def test_workflow_moves_the_clock_and_emits_events() -> None:
    doc, _ = opened()
    at = OPENED + timedelta(hours=1)
    change = commands.move(doc, ComplaintState.ACKNOWLEDGED, at=at, actor=None)
    assert types(change) == ["crm.complaint.status_changed.v1", "crm.complaint.acknowledged.v1"]
    doc = applied(doc, change)
    assert doc["sla"]["first_response_at"] is not None
    doc = applied(doc, commands.move(doc, ComplaintState.IN_PROGRESS, at=at, actor=None))
    doc = applied(doc, commands.move(doc, ComplaintState.WAITING_CUSTOMER, at=at, actor=None))
    assert doc["resolution_due"] is None
    doc = applied(doc, commands.move(doc, ComplaintState.IN_PROGRESS, at=at, actor=None))
    resolution = Resolution(Validity.UPHELD, RootCause.QUALITY, "re-tooled")
    change = commands.move(doc, ComplaintState.RESOLVED, at=at, actor=None, resolution=resolution)
    assert types(change)[-1] == "crm.complaint.resolved.v1"
    doc = applied(doc, change)
    change = commands.move(doc, ComplaintState.REOPENED, at=at + timedelta(days=1), actor=None)
    assert types(change)[-1] == "crm.complaint.reopened.v1"
    assert change.set["reopen_count"] == 1


def test_illegal_move_lists_the_allowed_targets() -> None:
    doc, _ = opened()
    with pytest.raises(IllegalTransition) as refused:
        commands.move(doc, ComplaintState.CLOSED, at=OPENED, actor=None)
    assert refused.value.allowed == (ComplaintState.ACKNOWLEDGED,)


def test_breaches_escalate_up_to_the_top_level() -> None:
    doc, _ = opened(Severity.CRITICAL)
    doc["escalation_level"] = 2
    found = [
        Breach(SlaTarget.FIRST_RESPONSE, OPENED + timedelta(hours=1)),
        Breach(SlaTarget.RESOLUTION, OPENED + timedelta(hours=8)),
    ]
    change = commands.record_breaches(doc, found, detected_at=OPENED + timedelta(hours=9))
    assert types(change) == [
        "crm.complaint.sla_breached.v1",
        "crm.complaint.escalated.v1",
        "crm.complaint.sla_breached.v1",
    ]
    assert change.set["escalation_level"] == 3
    assert [b["target"] for b in change.set["sla_breaches"]] == ["first_response", "resolution"]
    assert change.events[0].time == OPENED + timedelta(hours=1)


def test_survey_only_once_and_only_when_resolved() -> None:
    doc, _ = opened()
    with pytest.raises(commands.SurveyNotAllowed):
        commands.answer_survey(doc, score=5, comment=None, at=OPENED, actor=None)
    doc["state"] = "resolved"
    change = commands.answer_survey(doc, score=None, comment=None, at=OPENED, actor=None)
    assert change.set["survey"]["skipped"] is True
    doc = applied(doc, change)
    with pytest.raises(commands.SurveyNotAllowed):
        commands.answer_survey(doc, score=5, comment=None, at=OPENED, actor=None)
