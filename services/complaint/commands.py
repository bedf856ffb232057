"""What each complaint command changes and which events it emits — decided, not written.

Every function takes the complaint's current document and the command, asks the domain module
whether the command is allowed, and returns a :class:`Change`: the Mongo update and the events
that the store applies in one atomic, version-guarded write. No I/O happens here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.complaint.domain import workflow
from services.complaint.domain.sla import Breach, SlaClock
from services.complaint.domain.workflow import (
    Category,
    ComplaintState,
    EscalationReason,
    Resolution,
    Severity,
    Subcategory,
)
from services.complaint.records import clock_fields, clock_of, due_fields, policy_of, to_millis
from shared.events import Event, EventData, new_event, vocabulary
from shared.events import complaint as events
from shared.mongo import Document

SOURCE = "/services/complaint"


@dataclass(frozen=True)
class Change:
    """A command's effect: fields to `$set`, values to `$push`, and the events to emit."""

    set: Document
    events: list[Event[Any]]
    push: Document = field(default_factory=dict)


@dataclass(frozen=True)
class OpenComplaint:
    customer_id: str
    category: Category
    subcategory: Subcategory | None
    severity: Severity
    channel: vocabulary.Channel | None
    title: str
    description: str
    order_id: str | None
    external_id: str | None
    reported_at: datetime
    actor: str | None


def complaint_id_for(external_id: str | None) -> str:
    """A new complaint id; the same one for the same `external_id` (idempotent create)."""
    if external_id is None:
        return f"cmp-{uuid.uuid4().hex}"
    return f"cmp-{uuid.uuid5(uuid.NAMESPACE_URL, 'complaint:' + external_id).hex}"


def _event(doc: Document, data: EventData, *, at: datetime, actor: str | None) -> Event[Any]:
    return new_event(data, subject=doc["customer_id"], source=SOURCE, time=at, actor=actor)


def open_complaint(command: OpenComplaint, *, received_at: datetime) -> tuple[Document, Event[Any]]:
    """The new complaint's document and its `opened` event.

    Raises InvalidSubcategory when the subcategory does not belong to the category.
    """
    workflow.check_subcategory(command.category, command.subcategory)
    opened_at = to_millis(workflow.as_utc(command.reported_at, name="reported_at"))
    clock = SlaClock(opened_at=opened_at)
    doc: Document = {
        "_id": complaint_id_for(command.external_id),
        "customer_id": command.customer_id,
        "external_id": command.external_id,
        "category": command.category.value,
        "subcategory": command.subcategory.value if command.subcategory else None,
        "severity": command.severity.value,
        "channel": command.channel.value if command.channel else None,
        "title": command.title,
        "description": command.description,
        "order_id": command.order_id,
        "state": ComplaintState.NEW.value,
        "version": 1,
        "escalation_level": 0,
        "assignee": None,
        "team": None,
        "reported_at": opened_at,
        "received_at": to_millis(received_at),
        "resolution": None,
        "resolved_at": None,
        "closed_at": None,
        "reopen_count": 0,
        "last_transition_at": opened_at,
        "sla_breaches": [],
        "comments": [],
        "survey": None,
    }
    policy = policy_of(doc)
    doc |= clock_fields(clock) | due_fields(clock, policy)
    opened = _event(
        doc,
        events.ComplaintOpened(
            complaint_id=doc["_id"],
            category=vocabulary.ComplaintCategory(command.category.value),
            subcategory=doc["subcategory"],
            severity=vocabulary.Severity(command.severity.value),
            channel=command.channel,
            title=command.title,
            order_id=command.order_id,
            first_response_due=doc["first_response_due"],
            resolution_due=doc["resolution_due"],
        ),
        at=opened_at,
        actor=command.actor,
    )
    return doc, opened


def move(
    doc: Document,
    target: ComplaintState,
    *,
    at: datetime,
    actor: str | None,
    resolution: Resolution | None = None,
    reason: str | None = None,
    reopen_window: timedelta = workflow.DEFAULT_REOPEN_WINDOW,
) -> Change:
    """Move the complaint to `target`, with the SLA clock and the events that go with it.

    Raises IllegalTransition (409 with the allowed targets), ResolutionRequired, and
    ValueError for an event time that contradicts the complaint's clock.
    """
    at = to_millis(workflow.as_utc(at, name="at"))
    last = doc.get("last_transition_at") or doc["reported_at"]
    if at < last:
        raise ValueError(f"event time {at.isoformat()} precedes the last change {last.isoformat()}")
    current = ComplaintState(doc["state"])
    workflow.transition(
        current,
        target,
        at=at,
        resolution=resolution,
        resolved_at=doc.get("resolved_at"),
        closed_at=doc.get("closed_at"),
        reopen_window=reopen_window,
    )
    clock = clock_of(doc)
    updates: Document = {"state": target.value, "last_transition_at": at}
    emitted: list[EventData] = [
        events.ComplaintStatusChanged(
            complaint_id=doc["_id"],
            from_state=vocabulary.ComplaintState(current.value),
            to_state=vocabulary.ComplaintState(target.value),
        )
    ]
    if target is ComplaintState.ACKNOWLEDGED:
        if clock.first_response_at is None:
            clock = clock.respond(at)
        emitted.append(events.ComplaintAcknowledged(complaint_id=doc["_id"]))
    elif target is ComplaintState.WAITING_CUSTOMER:
        clock = clock.pause(at)
    elif target is ComplaintState.IN_PROGRESS and clock.is_paused:
        clock = clock.resume(at)
    elif target is ComplaintState.RESOLVED:
        assert resolution is not None  # transition() refused a resolve without one
        clock = clock.resolve(at)
        updates |= {
            "resolved_at": at,
            "resolution": {
                "validity": resolution.validity.value,
                "root_cause": resolution.root_cause.value,
                "corrective_action": resolution.corrective_action,
            },
        }
        emitted.append(
            events.ComplaintResolved(
                complaint_id=doc["_id"],
                validity=vocabulary.Validity(resolution.validity.value),
                root_cause=vocabulary.RootCause(resolution.root_cause.value),
                corrective_action=resolution.corrective_action or None,
            )
        )
    elif target is ComplaintState.CLOSED:
        updates["closed_at"] = at
        emitted.append(events.ComplaintClosed(complaint_id=doc["_id"]))
    elif target is ComplaintState.REOPENED:
        clock = clock.reopen(at)
        updates |= {"closed_at": None, "reopen_count": doc.get("reopen_count", 0) + 1}
        emitted.append(events.ComplaintReopened(complaint_id=doc["_id"], reason=reason))
    updates |= clock_fields(clock) | due_fields(clock, policy_of(doc))
    return Change(set=updates, events=[_event(doc, data, at=at, actor=actor) for data in emitted])


def escalate(
    doc: Document,
    *,
    reason: EscalationReason,
    at: datetime,
    actor: str | None,
) -> Change:
    """One escalation level up. Raises EscalationNotAllowed / EscalationLimitReached."""
    step = workflow.escalate(
        doc["escalation_level"], reason=reason, state=ComplaintState(doc["state"])
    )
    data = _escalated(doc, step.to_level, reason)
    return Change(
        set={"escalation_level": step.to_level},
        events=[_event(doc, data, at=to_millis(workflow.as_utc(at, name="at")), actor=actor)],
    )


def _escalated(doc: Document, level: int, reason: EscalationReason) -> events.ComplaintEscalated:
    return events.ComplaintEscalated(
        complaint_id=doc["_id"],
        level=level,
        reason=vocabulary.EscalationReason(reason.value),
        severity=vocabulary.Severity(doc["severity"]),
    )


def assign(
    doc: Document, *, assignee: str, team: str | None, at: datetime, actor: str | None
) -> Change:
    """Give the complaint to `assignee` (and `team`)."""
    data = events.ComplaintAssigned(complaint_id=doc["_id"], assignee=assignee, team=team)
    return Change(
        set={"assignee": assignee, "team": team},
        events=[_event(doc, data, at=to_millis(workflow.as_utc(at, name="at")), actor=actor)],
    )


def record_breaches(doc: Document, found: list[Breach], *, detected_at: datetime) -> Change:
    """Record SLA breaches on the complaint, each with its event (timed at its due time) and
    an automatic escalation while the complaint can still be escalated."""
    level = doc["escalation_level"]
    state = ComplaintState(doc["state"])
    recorded = list(doc.get("sla_breaches", []))
    emitted: list[Event[Any]] = []
    for breach in found:
        recorded.append(
            {"target": breach.target.value, "due_at": breach.due_at, "detected_at": detected_at}
        )
        data = events.ComplaintSlaBreached(
            complaint_id=doc["_id"],
            target=vocabulary.SlaTarget(breach.target.value),
            due_at=breach.due_at,
            severity=vocabulary.Severity(doc["severity"]),
        )
        emitted.append(_event(doc, data, at=breach.due_at, actor="sla-scheduler"))
        if workflow.can_escalate(level, state=state):
            level += 1
            emitted.append(
                _event(
                    doc,
                    _escalated(doc, level, EscalationReason.SLA_BREACH),
                    at=breach.due_at,
                    actor="sla-scheduler",
                )
            )
    return Change(set={"sla_breaches": recorded, "escalation_level": level}, events=emitted)


def add_comment(
    doc: Document, *, body: str, visibility: str, author: str | None, at: datetime
) -> Change:
    """Append a comment (internal notes stay inside the company, external ones are shared)."""
    comment = {
        "id": f"cmt-{uuid.uuid4().hex}",
        "body": body,
        "visibility": visibility,
        "author": author,
        "created_at": to_millis(workflow.as_utc(at, name="at")),
    }
    return Change(set={}, events=[], push={"comments": comment})


class SurveyNotAllowed(workflow.ComplaintRuleViolation):
    """A survey for a complaint that is not resolved, or that was already answered."""


def answer_survey(
    doc: Document,
    *,
    score: int | None,
    comment: str | None,
    at: datetime,
    actor: str | None,
) -> Change:
    """Record the one CSAT survey of a resolved (or closed) complaint; `score` None = skipped."""
    if doc.get("survey") is not None:
        raise SurveyNotAllowed("this complaint's survey was already answered")
    if doc["state"] not in (ComplaintState.RESOLVED.value, ComplaintState.CLOSED.value):
        raise SurveyNotAllowed(f"a {doc['state']} complaint cannot be surveyed; resolve it first")
    at = to_millis(workflow.as_utc(at, name="at"))
    survey_id = f"srv-{uuid.uuid4().hex}"
    survey = {
        "id": survey_id,
        "score": score,
        "skipped": score is None,
        "comment": comment,
        "answered_at": at,
    }
    data = events.SurveyAnswered(
        complaint_id=doc["_id"], survey_id=survey_id, score=score, comment=comment
    )
    return Change(set={"survey": survey}, events=[_event(doc, data, at=at, actor=actor)])
