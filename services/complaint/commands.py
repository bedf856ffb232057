"""What each complaint command changes and which events it emits — decided, not written.

Every function takes the complaint's current document and the command, asks the domain module
whether the command is allowed, and returns a :class:`Change`: the Mongo update and the events
that the store applies in one atomic, version-guarded write. No I/O happens here.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
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
# What personal text becomes when the customer is erased (the same marker as the 360 view's).
ERASED_TEXT = "[erased]"
MAX_ATTACHMENTS = 50


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
    attachments: Sequence[Attachment] = ()


@dataclass(frozen=True)
class Attachment:
    """Metadata of a file kept elsewhere (object store, DMS); the file itself never comes here."""

    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_ref: str


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
        "attachments": [
            _attachment_record(each, uploaded_by=command.actor, at=opened_at)
            for each in command.attachments
        ],
        "survey": None,
        "survey_invite": None,
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
        # An unanswered survey asks about a handling that turned out not to be the end of it:
        # its link stops working, and the next resolve opens a new one.
        updates |= {
            "closed_at": None,
            "reopen_count": doc.get("reopen_count", 0) + 1,
            "survey_invite": None,
        }
        emitted.append(events.ComplaintReopened(complaint_id=doc["_id"], reason=reason))
    updates |= clock_fields(clock) | due_fields(clock, policy_of(doc))
    return Change(set=updates, events=[_event(doc, data, at=at, actor=actor) for data in emitted])


def resolve(
    doc: Document,
    resolution: Resolution,
    *,
    at: datetime,
    actor: str | None,
    survey_token: str,
    survey_valid_for: timedelta,
) -> Change:
    """Resolve the complaint and open its CSAT survey behind `survey_token`, valid for
    `survey_valid_for` from the resolution (event time).

    A complaint is surveyed once: when its survey was answered or skipped before a reopen,
    resolving again opens no new one. Raises what `move` raises.
    """
    change = move(doc, ComplaintState.RESOLVED, at=at, actor=actor, resolution=resolution)
    if doc.get("survey") is not None:
        return change
    survey = open_survey(
        doc | {"state": ComplaintState.RESOLVED.value},
        token=survey_token,
        at=at,
        valid_for=survey_valid_for,
    )
    return Change(set=change.set | survey.set, events=change.events, push=change.push)


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
    """Record the one CSAT survey of a resolved (or closed) complaint; `score` None = skipped.

    Answered by an agent or through the customer's link alike; either closes the link."""
    _check_surveyable(doc)
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


# -- survey links --------------------------------------------------------------------------------


class SurveyLinkUnknown(workflow.ComplaintRuleViolation):
    """No open survey behind this token (never issued, replaced by a newer link, or voided by
    a reopen): answered with 404, the same as a token that never existed."""


class SurveyLinkExpired(workflow.ComplaintRuleViolation):
    """The survey link was valid until `expires_at` (answered with 410 Gone)."""

    def __init__(self, expires_at: datetime) -> None:
        self.expires_at = expires_at
        super().__init__(f"this survey link expired at {expires_at.isoformat()}")


def new_survey_token() -> str:
    """A random, unguessable token: the only credential of the public survey routes."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256. The token is long and random, so a plain
    hash is enough (as for API keys) and a stolen database does not reveal working links."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_survey(doc: Document, *, token: str, at: datetime, valid_for: timedelta) -> Change:
    """Open (or re-issue) the CSAT survey link of a resolved or closed complaint.

    A new link replaces the previous one, so an agent who lost the link can send a fresh one;
    the old token stops working. Raises SurveyNotAllowed before resolution or once answered.
    """
    _check_surveyable(doc)
    at = to_millis(workflow.as_utc(at, name="at"))
    invite = {"token_sha256": token_digest(token), "opened_at": at, "expires_at": at + valid_for}
    return Change(set={"survey_invite": invite}, events=[])


def survey_by_link(doc: Document, *, token: str, at: datetime) -> Document:
    """The open survey invitation that `token` designates on `doc`, checked against `at`.

    Raises SurveyLinkUnknown when the token is not the complaint's current one,
    SurveyLinkExpired after its expiry, SurveyNotAllowed when the survey was answered.
    """
    invite = doc.get("survey_invite")
    if invite is None or not secrets.compare_digest(invite["token_sha256"], token_digest(token)):
        raise SurveyLinkUnknown("no open survey for this link")
    if doc.get("survey") is not None:
        raise SurveyNotAllowed("this survey was already answered")
    if workflow.as_utc(at, name="at") >= invite["expires_at"]:
        raise SurveyLinkExpired(invite["expires_at"])
    return dict(invite)


def answer_survey_by_link(
    doc: Document, *, token: str, score: int | None, comment: str | None, at: datetime
) -> Change:
    """The customer's own answer through the link: the same change and `crm.survey.answered.v1`
    as the agent's path, after checking the token and its expiry."""
    survey_by_link(doc, token=token, at=at)
    return answer_survey(doc, score=score, comment=comment, at=at, actor="customer")


def _check_surveyable(doc: Document) -> None:
    if doc.get("survey") is not None:
        raise SurveyNotAllowed("this complaint's survey was already answered")
    if doc["state"] not in (ComplaintState.RESOLVED.value, ComplaintState.CLOSED.value):
        raise SurveyNotAllowed(f"a {doc['state']} complaint cannot be surveyed; resolve it first")


# -- attachments ---------------------------------------------------------------------------------


class TooManyAttachments(workflow.ComplaintRuleViolation):
    """A complaint already carries MAX_ATTACHMENTS attachments."""


def _attachment_record(
    attachment: Attachment, *, uploaded_by: str | None, at: datetime
) -> Document:
    return {
        "id": f"att-{uuid.uuid4().hex}",
        "file_name": attachment.file_name,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "sha256": attachment.sha256,
        "storage_ref": attachment.storage_ref,
        "uploaded_by": uploaded_by,
        "uploaded_at": at,
    }


def add_attachment(
    doc: Document, attachment: Attachment, *, uploaded_by: str | None, at: datetime
) -> Change:
    """Record one attachment's metadata; the same file (SHA-256) at the same place is
    recorded once, so a retried upload notice changes nothing."""
    existing = doc.get("attachments", [])
    if any(
        each["sha256"] == attachment.sha256 and each["storage_ref"] == attachment.storage_ref
        for each in existing
    ):
        return Change(set={}, events=[])
    if len(existing) >= MAX_ATTACHMENTS:
        raise TooManyAttachments(f"a complaint carries at most {MAX_ATTACHMENTS} attachments")
    at = to_millis(workflow.as_utc(at, name="at"))
    record = _attachment_record(attachment, uploaded_by=uploaded_by, at=at)
    return Change(set={}, events=[], push={"attachments": record})


# -- merged and erased customers -----------------------------------------------------------------


def rekey(doc: Document, *, survivor_id: str) -> Document:
    """The `$set` that moves a complaint of a merged-away customer to the survivor; the old id
    is kept in `former_customer_ids` so the move can be traced. Empty when already there."""
    if doc["customer_id"] == survivor_id:
        return {}
    former = list(dict.fromkeys([*doc.get("former_customer_ids", []), doc["customer_id"]]))
    return {"customer_id": survivor_id, "former_customer_ids": former}


def erased(doc: Document, *, at: datetime) -> Document:
    """The `$set` that removes the customer's personal data from a complaint.

    Gone: title, description, comment texts, attachment names and locations (and their hashes,
    which identify a file), the survey comment and an open survey link. Kept, because
    statistics and the SLA history need them and they identify nobody: category, severity,
    channel, states and times, SLA clock and breaches, escalation, assignee/team (staff),
    resolution (validity, root cause, corrective action), the survey score, attachment types
    and sizes. Empty when the complaint was erased already (a replayed erasure).
    """
    if doc.get("erased_at") is not None:
        return {}
    survey = doc.get("survey")
    return {
        "title": ERASED_TEXT,
        "description": ERASED_TEXT if doc.get("description") else "",
        "comments": [comment | {"body": ERASED_TEXT} for comment in doc.get("comments", [])],
        "attachments": [
            attachment | {"file_name": ERASED_TEXT, "storage_ref": ERASED_TEXT, "sha256": None}
            for attachment in doc.get("attachments", [])
        ],
        "survey": survey | {"comment": None} if survey is not None else None,
        "survey_invite": None,
        "erased_at": to_millis(workflow.as_utc(at, name="at")),
    }
