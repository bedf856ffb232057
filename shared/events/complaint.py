"""Complaint workflow, SLA breaches and satisfaction surveys (topic crm.complaint.v1)."""

from __future__ import annotations

from pydantic import Field

from shared.events.envelope import EventData, UtcDateTime
from shared.events.vocabulary import (
    Channel,
    ComplaintCategory,
    ComplaintState,
    EscalationReason,
    RootCause,
    Severity,
    SlaTarget,
    Validity,
)


class ComplaintEvent(EventData):
    complaint_id: str = Field(max_length=128)


class ComplaintOpened(ComplaintEvent):
    """A complaint was received, with its category, severity and SLA due times."""

    event_type = "crm.complaint.opened.v1"
    category: ComplaintCategory
    subcategory: str | None = Field(default=None, max_length=64)
    severity: Severity
    channel: Channel | None = None
    title: str = Field(max_length=200)
    order_id: str | None = Field(default=None, max_length=128)
    first_response_due: UtcDateTime | None = None
    resolution_due: UtcDateTime | None = None


class ComplaintAcknowledged(ComplaintEvent):
    """The complaint team answered the customer for the first time (first response)."""

    event_type = "crm.complaint.acknowledged.v1"


class ComplaintAssigned(ComplaintEvent):
    """The complaint was given to a handler (and team)."""

    event_type = "crm.complaint.assigned.v1"
    assignee: str = Field(max_length=128)
    team: str | None = Field(default=None, max_length=128)


class ComplaintEscalated(ComplaintEvent):
    """The complaint moved up an escalation level, by hand or on an SLA breach."""

    event_type = "crm.complaint.escalated.v1"
    level: int = Field(ge=1, le=3)
    reason: EscalationReason
    severity: Severity


class ComplaintStatusChanged(ComplaintEvent):
    """The complaint moved from one workflow state to another."""

    event_type = "crm.complaint.status_changed.v1"
    from_state: ComplaintState
    to_state: ComplaintState


class ComplaintResolved(ComplaintEvent):
    """The complaint was resolved with a validity judgement, root cause and action."""

    event_type = "crm.complaint.resolved.v1"
    validity: Validity
    root_cause: RootCause
    corrective_action: str | None = Field(default=None, max_length=2000)


class ComplaintReopened(ComplaintEvent):
    """A resolved or closed complaint was reopened within the reopen window."""

    event_type = "crm.complaint.reopened.v1"
    reason: str | None = Field(default=None, max_length=500)


class ComplaintClosed(ComplaintEvent):
    """The complaint was closed after resolution."""

    event_type = "crm.complaint.closed.v1"


class ComplaintSlaBreached(ComplaintEvent):
    """Emitted once per target when its due time passes unmet (event time = due time)."""

    event_type = "crm.complaint.sla_breached.v1"
    target: SlaTarget
    due_at: UtcDateTime
    severity: Severity


class SurveyAnswered(ComplaintEvent):
    """One CSAT survey per resolved complaint; `score` is None when the customer skipped."""

    event_type = "crm.survey.answered.v1"
    survey_id: str = Field(max_length=128)
    score: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)
