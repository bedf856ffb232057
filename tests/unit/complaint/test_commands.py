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


def resolved_doc() -> Document:
    doc, _ = opened()
    for target in (ComplaintState.ACKNOWLEDGED, ComplaintState.IN_PROGRESS):
        doc = applied(doc, commands.move(doc, target, at=OPENED, actor=None))
    resolution = Resolution(validity=Validity.REJECTED, root_cause=RootCause.MISUSE)
    change = commands.move(
        doc, ComplaintState.RESOLVED, at=OPENED, actor=None, resolution=resolution
    )
    return applied(doc, change)


def test_survey_link_stores_only_the_hash_and_expires() -> None:
    doc = resolved_doc()
    token = commands.new_survey_token()
    assert len(token) >= 40 and token != commands.new_survey_token()
    change = commands.open_survey(doc, token=token, at=OPENED, valid_for=timedelta(days=7))
    invite = change.set["survey_invite"]
    assert token not in str(invite)
    assert invite["token_sha256"] == commands.token_digest(token)
    assert invite["expires_at"] == OPENED.replace(microsecond=123000) + timedelta(days=7)
    doc = applied(doc, change)

    later = OPENED + timedelta(days=6)
    assert commands.survey_by_link(doc, token=token, at=later) == invite
    with pytest.raises(commands.SurveyLinkUnknown):
        commands.survey_by_link(doc, token=commands.new_survey_token(), at=later)
    with pytest.raises(commands.SurveyLinkExpired):
        commands.survey_by_link(doc, token=token, at=OPENED + timedelta(days=7))


def test_survey_by_link_is_the_agent_answer_once() -> None:
    doc = resolved_doc()
    token = commands.new_survey_token()
    doc = applied(
        doc, commands.open_survey(doc, token=token, at=OPENED, valid_for=timedelta(days=7))
    )
    at = OPENED + timedelta(hours=5)
    by_link = commands.answer_survey_by_link(doc, token=token, score=2, comment="slow", at=at)
    by_agent = commands.answer_survey(doc, score=2, comment="slow", at=at, actor="customer")
    assert types(by_link) == types(by_agent) == ["crm.survey.answered.v1"]
    assert by_link.events[0].data.score == 2
    assert by_link.events[0].actor == "customer"
    doc = applied(doc, by_link)
    with pytest.raises(commands.SurveyNotAllowed):
        commands.answer_survey_by_link(doc, token=token, score=None, comment=None, at=at)
    with pytest.raises(commands.SurveyNotAllowed):  # nor a new link once answered
        commands.open_survey(doc, token="another", at=at, valid_for=timedelta(days=7))


def test_reopen_voids_an_unanswered_survey_link() -> None:
    doc = resolved_doc()
    token = commands.new_survey_token()
    doc = applied(
        doc, commands.open_survey(doc, token=token, at=OPENED, valid_for=timedelta(days=7))
    )
    doc = applied(doc, commands.move(doc, ComplaintState.REOPENED, at=OPENED, actor=None))
    assert doc["survey_invite"] is None
    with pytest.raises(commands.SurveyLinkUnknown):
        commands.survey_by_link(doc, token=token, at=OPENED)
    with pytest.raises(commands.SurveyNotAllowed):  # reopened: not surveyable until resolved
        commands.open_survey(doc, token=token, at=OPENED, valid_for=timedelta(days=7))


def attachment(sha: str = "a" * 64, ref: str = "complaints/2411/valve.jpg") -> commands.Attachment:
    return commands.Attachment(
        file_name="valve.jpg",
        content_type="image/jpeg",
        size_bytes=1024,
        sha256=sha,
        storage_ref=ref,
    )


def test_attachments_recorded_once_and_bounded() -> None:
    doc, _ = opened()
    change = commands.add_attachment(doc, attachment(), uploaded_by="agent-7", at=OPENED)
    record = change.push["attachments"]
    assert record["uploaded_by"] == "agent-7" and record["uploaded_at"].microsecond == 123000
    assert change.events == []
    doc["attachments"] = [record]
    again = commands.add_attachment(doc, attachment(), uploaded_by="agent-7", at=OPENED)
    assert again.push == {} and again.set == {}
    doc["attachments"] = [record] * commands.MAX_ATTACHMENTS
    with pytest.raises(commands.TooManyAttachments):
        commands.add_attachment(doc, attachment(sha="b" * 64), uploaded_by=None, at=OPENED)


def test_rekey_to_survivor_keeps_the_former_ids() -> None:
    doc, _ = opened()
    fields = commands.rekey(doc, survivor_id="c-9")
    assert fields == {"customer_id": "c-9", "former_customer_ids": ["c-1"]}
    assert commands.rekey(doc | fields, survivor_id="c-9") == {}
    moved_again = commands.rekey(doc | fields, survivor_id="c-12")
    assert moved_again["former_customer_ids"] == ["c-1", "c-9"]


def test_erasure_removes_personal_text_and_keeps_the_facts() -> None:
    doc = resolved_doc()
    doc["description"] = "Mr Wang at +86 138 0000 8000 says the cans leak"
    doc["comments"] = [
        {"id": "cmt-1", "body": "called Mr Wang", "visibility": "internal", "author": "agent-7"}
    ]
    doc["attachments"] = [
        commands.add_attachment(doc, attachment(), uploaded_by="agent-7", at=OPENED).push[
            "attachments"
        ]
    ]
    doc["survey"] = {"id": "srv-1", "score": 2, "skipped": False, "comment": "Wang: too slow"}
    doc["survey_invite"] = {"token_sha256": "x", "expires_at": OPENED, "opened_at": OPENED}
    fields = commands.erased(doc, at=OPENED)
    after = doc | fields
    assert "Wang" not in str({k: after[k] for k in fields if k != "erased_at"})
    assert after["title"] == after["description"] == commands.ERASED_TEXT
    assert after["comments"][0]["body"] == commands.ERASED_TEXT
    assert after["comments"][0]["author"] == "agent-7"
    assert after["attachments"][0]["storage_ref"] == commands.ERASED_TEXT
    assert after["attachments"][0]["sha256"] is None
    assert after["attachments"][0]["size_bytes"] == 1024
    assert after["survey"]["score"] == 2 and after["survey"]["comment"] is None
    assert after["survey_invite"] is None
    for kept in ("category", "severity", "state", "resolution", "reported_at", "sla"):
        assert after[kept] == doc[kept]
    assert commands.erased(after, at=OPENED + timedelta(days=1)) == {}


def test_resolve_opens_the_survey_once_per_complaint() -> None:
    doc, _ = opened()
    for target in (ComplaintState.ACKNOWLEDGED, ComplaintState.IN_PROGRESS):
        doc = applied(doc, commands.move(doc, target, at=OPENED, actor=None))
    resolution = Resolution(validity=Validity.REJECTED, root_cause=RootCause.MISUSE)
    at = OPENED + timedelta(hours=3)
    change = commands.resolve(
        doc,
        resolution,
        at=at,
        actor=None,
        survey_token="t-1",
        survey_valid_for=timedelta(days=2),
    )
    assert "crm.complaint.resolved.v1" in types(change)
    assert change.set["state"] == "resolved"
    assert change.set["survey_invite"]["token_sha256"] == commands.token_digest("t-1")
    assert change.set["survey_invite"]["expires_at"] == at.replace(microsecond=123000) + timedelta(
        days=2
    )
    doc = applied(doc, change)
    doc = applied(doc, commands.answer_survey(doc, score=3, comment=None, at=at, actor=None))
    doc = applied(doc, commands.move(doc, ComplaintState.REOPENED, at=at, actor=None))
    doc = applied(doc, commands.move(doc, ComplaintState.IN_PROGRESS, at=at, actor=None))
    again = commands.resolve(
        doc,
        resolution,
        at=at,
        actor=None,
        survey_token="t-2",
        survey_valid_for=timedelta(days=2),
    )
    assert "survey_invite" not in again.set
    assert again.set["state"] == "resolved"
