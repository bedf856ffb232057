"""The customer's survey page: public routes where the link's token is the only credential.

`GET /v1/surveys/{token}` shows what the customer needs to recognise the survey (the
complaint's reference, kind and resolution date, the question) and nothing internal: no
customer data, no description, no notes, no staff names. `POST /v1/surveys/{token}` answers,
`POST /v1/surveys/{token}/skip` declines; both record exactly what the agent's
`POST /v1/complaints/{id}/survey` records and emit the same `crm.survey.answered.v1`.

Unknown, replaced or voided tokens get 404, expired ones 410, answered ones 409. Only the
token's SHA-256 is stored, and it is compared in constant time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from services.complaint import commands
from services.complaint.api.routes import StoreDep
from services.complaint.api.schemas import (
    SurveyLinkAnswer,
    SurveyQuestion,
    SurveyThanks,
    SurveyView,
)
from services.complaint.store import ComplaintStore
from shared.events import utc_now
from shared.mongo import Document

router = APIRouter(prefix="/v1/surveys", tags=["surveys"])

QUESTION = SurveyQuestion(
    en="How satisfied are you with how we handled your complaint?",
    zh="您对我们处理此次投诉的方式满意吗？",
)
# Tokens are 43 characters (32 random bytes, URL-safe base64); anything far off is refused
# before it reaches the database.
Token = Annotated[str, Path(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]

_REFUSALS: dict[int | str, dict[str, str]] = {
    404: {"description": "No open survey behind this link"},
    409: {"description": "Already answered (or skipped)"},
    410: {"description": "The link expired"},
}


async def _by_token(store: ComplaintStore, token: str) -> Document:
    doc = await store.by_survey_link(commands.token_digest(token))
    if doc is None:
        raise HTTPException(404, "no open survey for this link")
    return doc


def _checked(
    error: commands.SurveyNotAllowed | commands.SurveyLinkUnknown | commands.SurveyLinkExpired,
) -> HTTPException:
    if isinstance(error, commands.SurveyLinkExpired):
        return HTTPException(410, str(error))
    if isinstance(error, commands.SurveyLinkUnknown):
        return HTTPException(404, str(error))
    return HTTPException(409, str(error))


@router.get(
    "/{token}",
    response_model=SurveyView,
    responses=_REFUSALS,
    summary="The survey behind a customer's link (public)",
)
async def show_survey(token: Token, store: StoreDep) -> SurveyView:
    doc = await _by_token(store, token)
    try:
        invite = commands.survey_by_link(doc, token=token, at=utc_now())
    except (
        commands.SurveyNotAllowed,
        commands.SurveyLinkUnknown,
        commands.SurveyLinkExpired,
    ) as error:
        raise _checked(error) from None
    return SurveyView(
        reference=doc["_id"],
        category=doc["category"],
        subcategory=doc.get("subcategory"),
        resolved_at=doc["resolved_at"],
        question=QUESTION,
        open_until=invite["expires_at"],
    )


async def _record(
    store: ComplaintStore, token: str, score: int | None, comment: str | None
) -> SurveyThanks:
    for _ in range(5):  # retried on a concurrent change of the complaint, like `_unguarded`
        doc = await _by_token(store, token)
        now = utc_now()
        try:
            change = commands.answer_survey_by_link(
                doc, token=token, score=score, comment=comment, at=now
            )
        except (
            commands.SurveyNotAllowed,
            commands.SurveyLinkUnknown,
            commands.SurveyLinkExpired,
        ) as error:
            raise _checked(error) from None
        if await store.apply(doc, change, version=doc["version"], queued_at=now) is not None:
            return SurveyThanks(
                reference=doc["_id"], status="skipped" if score is None else "answered"
            )
    raise HTTPException(409, "the complaint is changing too often; retry")


@router.post(
    "/{token}",
    status_code=201,
    response_model=SurveyThanks,
    responses=_REFUSALS,
    summary="Answer the survey: score 1–5 and an optional comment (public, once)",
)
async def answer_survey(token: Token, body: SurveyLinkAnswer, store: StoreDep) -> SurveyThanks:
    """Emits `crm.survey.answered.v1` (actor `customer`), the same event as the agent's path."""
    return await _record(store, token, body.score, body.comment)


@router.post(
    "/{token}/skip",
    status_code=201,
    response_model=SurveyThanks,
    responses=_REFUSALS,
    summary="Decline the survey (public, once)",
)
async def skip_survey(token: Token, store: StoreDep) -> SurveyThanks:
    """Recorded as a skipped survey (`score` None in `crm.survey.answered.v1`)."""
    return await _record(store, token, None, None)
