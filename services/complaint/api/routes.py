"""REST routes for complaints: decode → command → domain → store. No rules live here.

Every workflow action is its own `POST /v1/complaints/{id}/<action>` (the verbs a helpdesk user
clicks) and needs `If-Match` with the complaint's current `ETag`: a stale one gets 412, a missing
one 428. An action the workflow does not allow now gets 409 with the `allowed` transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from services.complaint import commands
from services.complaint.api.schemas import (
    ActionBody,
    AllowedTransitionsError,
    AssignBody,
    AttachmentAdd,
    CommentCreate,
    ComplaintCreate,
    ComplaintGroupStats,
    ComplaintPublic,
    ComplaintsPage,
    ComplaintStatsPublic,
    EscalateBody,
    ReopenBody,
    ResolveBody,
    RootCauseCount,
    SurveyAnswer,
)
from services.complaint.domain import workflow
from services.complaint.domain.workflow import (
    Category,
    ComplaintState,
    EscalationReason,
    Resolution,
    Severity,
)
from services.complaint.settings import Settings
from services.complaint.stats import ComplaintStats, GroupBy, complaint_stats, grouped_stats
from services.complaint.store import ComplaintStore
from shared import concurrency
from shared.auth import Actor, Scope, requires
from shared.events import utc_now
from shared.events.envelope import EventTimeInFuture, UtcDateTime, check_event_time
from shared.mongo import Document

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])


def get_store(request: Request) -> ComplaintStore:
    store: ComplaintStore = request.app.state.complaints
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[ComplaintStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
IfMatch = Annotated[
    str | None,
    Header(description="The complaint's current ETag (from GET); required for workflow actions"),
]

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": AllowedTransitionsError, "description": "Not allowed now"}
}
_GUARDED: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such complaint"},
    409: {"model": AllowedTransitionsError, "description": "Not allowed in the current state"},
    412: {"description": "If-Match does not match the current ETag"},
    428: {"description": "If-Match missing"},
}


def etag(doc: Document) -> str:
    return concurrency.etag(doc["version"])


def public(doc: Document, *, survey_link: str | None = None) -> ComplaintPublic:
    allowed = list(workflow.allowed_transitions(ComplaintState(doc["state"])))
    return ComplaintPublic.of(doc, allowed=allowed, survey_link=survey_link)


def _answer(
    doc: Document, *, status_code: int = 200, survey_link: str | None = None
) -> JSONResponse:
    return JSONResponse(
        public(doc, survey_link=survey_link).model_dump(mode="json"),
        status_code=status_code,
        headers={"ETag": etag(doc), "Location": f"/v1/complaints/{doc['_id']}"},
    )


def _event_time(at: datetime | None, settings: Settings) -> datetime:
    now = utc_now()
    if at is None:
        return now
    try:
        return check_event_time(at, now=now, max_future_skew=settings.event_max_future_skew)
    except EventTimeInFuture as error:
        raise HTTPException(422, str(error)) from None


async def _load(store: ComplaintStore, complaint_id: str) -> Document:
    doc = await store.get(complaint_id)
    if doc is None:
        raise HTTPException(404, f"no complaint {complaint_id}")
    return doc


def _refused(doc: Document, error: Exception) -> JSONResponse:
    state = ComplaintState(doc["state"])
    allowed = (
        error.allowed
        if isinstance(error, workflow.IllegalTransition)
        else workflow.allowed_transitions(state)
    )
    body = AllowedTransitionsError(detail=str(error), state=state, allowed=list(allowed))
    return JSONResponse(body.model_dump(mode="json"), status_code=409)


async def _guarded(
    store: ComplaintStore,
    complaint_id: str,
    if_match: str | None,
    decide: Callable[[Document], commands.Change],
    *,
    survey_token: str | None = None,
    settings: Settings | None = None,
) -> JSONResponse:
    """Load, check the ETag, let the domain decide, write only if nobody changed it meanwhile.

    With `survey_token`, the answer carries the survey link when the change opened it."""
    doc = await _load(store, complaint_id)
    expected = concurrency.expected_version(doc["version"], if_match, what="complaint")
    try:
        change = decide(doc)
    except (workflow.ResolutionRequired, workflow.InvalidResolution) as error:
        raise HTTPException(422, str(error)) from error
    except workflow.ComplaintRuleViolation as error:
        return _refused(doc, error)
    except ValueError as error:  # an event time that contradicts the complaint's history
        raise HTTPException(422, str(error)) from error
    await _map_survey_link(store, doc, change, survey_token)
    updated = await store.apply(doc, change, version=expected, queued_at=utc_now())
    if updated is None:
        current = await _load(store, complaint_id)
        raise concurrency.changed_meanwhile(current["version"], what="complaint")
    return _answer(updated, survey_link=_issued_link(updated, survey_token, settings))


async def _map_survey_link(
    store: ComplaintStore, doc: Document, change: commands.Change, token: str | None
) -> None:
    """Map the token to the complaint before the change that opens its survey is written, so
    an open invite always has its mapping (one of a change lost to a concurrent write maps to
    an invite that never was, and is answered like an unknown token)."""
    invite = change.set.get("survey_invite")
    if token is not None and invite is not None:
        await store.remember_survey_link(invite["token_sha256"], complaint_id=doc["_id"])


def _issued_link(doc: Document, token: str | None, settings: Settings | None) -> str | None:
    """The survey link to hand out once, if `token` is the one the stored invite holds."""
    invite = doc.get("survey_invite")
    if token is None or settings is None or invite is None:
        return None
    if invite["token_sha256"] != commands.token_digest(token):
        return None
    return settings.survey_link(token)


async def _unguarded(
    store: ComplaintStore,
    complaint_id: str,
    decide: Callable[[Document], commands.Change],
    *,
    survey_token: str | None = None,
    settings: Settings | None = None,
) -> JSONResponse:
    """Like `_guarded` for appends that cannot conflict: retried on a concurrent change."""
    for _ in range(5):
        doc = await _load(store, complaint_id)
        try:
            change = decide(doc)
        except workflow.ComplaintRuleViolation as error:
            return _refused(doc, error)
        if not (change.set or change.push or change.events):
            return _answer(doc, status_code=201)  # nothing to change (e.g. a repeated upload)
        await _map_survey_link(store, doc, change, survey_token)
        updated = await store.apply(doc, change, version=doc["version"], queued_at=utc_now())
        if updated is not None:
            link = _issued_link(updated, survey_token, settings)
            return _answer(updated, status_code=201, survey_link=link)
    raise HTTPException(409, "the complaint is changing too often; retry")


@router.post(
    "",
    status_code=201,
    response_model=ComplaintPublic,
    responses={200: {"model": ComplaintPublic, "description": "Already created (external_id)"}},
    summary="Open a complaint",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def create_complaint(
    body: ComplaintCreate,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
) -> JSONResponse:
    """Open a complaint with its SLA due times; emits `crm.complaint.opened.v1`.

    A customer id that was merged into another customer opens the complaint on the survivor."""
    received_at = utc_now()
    command = commands.OpenComplaint(
        **body.model_dump(exclude={"reported_at", "attachments", "customer_id"}),
        customer_id=await store.survivor_of(body.customer_id),
        reported_at=_event_time(body.reported_at, settings),
        actor=actor,
        attachments=[commands.Attachment(**each.model_dump()) for each in body.attachments],
    )
    try:
        doc, opened = commands.open_complaint(command, received_at=received_at)
    except workflow.InvalidSubcategory as error:
        raise HTTPException(422, str(error)) from error
    stored, created = await store.insert(doc, [opened], queued_at=received_at)
    return _answer(stored, status_code=201 if created else 200)


@router.get(
    "/stats",
    response_model=ComplaintStatsPublic,
    summary="Complaint statistics",
    dependencies=[requires(Scope.COMPLAINTS_READ)],
)
async def stats(
    store: StoreDep,
    from_: Annotated[UtcDateTime | None, Query(alias="from")] = None,
    to: UtcDateTime | None = None,
    category: Category | None = None,
    severity: Severity | None = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    state: ComplaintState | None = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    team: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    group_by: Annotated[
        GroupBy | None,
        Query(
            description="Also give the metrics per category, severity, state, assignee, "
            "team, ISO week or month of the report (UTC)"
        ),
    ] = None,
) -> ComplaintStatsPublic:
    """Counts by category/severity/state, median times (seconds, wall clock from the report)
    to first response and to resolution, breach and reopen rates, top root causes, CSAT —
    over complaints reported in [from, to) matching every filter given; with `group_by`, the
    same metrics per group in `groups` as well. A customer's statistics include the complaints
    of customers merged into it (and a merged-away id gives its survivor's)."""
    filters: dict[str, Any] = {}
    reported: dict[str, datetime] = {}
    if from_ is not None:
        reported["$gte"] = from_
    if to is not None:
        reported["$lt"] = to
    if reported:
        filters["reported_at"] = reported
    for name, value in (
        ("category", category),
        ("severity", severity),
        ("customer_id", await store.survivor_of(customer_id) if customer_id else None),
        ("state", state),
        ("assignee", assignee),
        ("team", team),
    ):
        if value is not None:
            filters[name] = str(value)
    docs = await store.matching(filters)
    groups = (
        [
            ComplaintGroupStats.model_validate(_metrics(result) | {"key": key})
            for key, result in grouped_stats(docs, group_by)
        ]
        if group_by is not None
        else []
    )
    return ComplaintStatsPublic.model_validate(
        _metrics(complaint_stats(docs)) | {"group_by": group_by, "groups": groups}
    )


def _metrics(result: ComplaintStats) -> dict[str, Any]:
    return {
        **result.__dict__,
        "top_root_causes": [
            RootCauseCount(root_cause=cause, count=count) for cause, count in result.top_root_causes
        ],
    }


@router.get(
    "",
    response_model=ComplaintsPage,
    summary="List complaints",
    dependencies=[requires(Scope.COMPLAINTS_READ)],
)
async def list_complaints(
    store: StoreDep,
    customer_id: str | None = None,
    state: ComplaintState | None = None,
    severity: Severity | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> ComplaintsPage:
    """Complaints matching all given filters, in id order; follow `next_cursor` for more.
    A merged-away `customer_id` lists the complaints of the customer it was merged into."""
    if customer_id is not None:
        customer_id = await store.survivor_of(customer_id)
    filters = {
        name: str(value)
        for name, value in (
            ("customer_id", customer_id),
            ("state", state),
            ("severity", severity),
            ("category", category),
        )
        if value is not None
    }
    docs = await store.page(filters, limit=limit + 1, after=cursor)
    more = len(docs) > limit
    docs = docs[:limit]
    return ComplaintsPage(
        items=[public(doc) for doc in docs],
        next_cursor=docs[-1]["_id"] if more else None,
    )


@router.get(
    "/{complaint_id}",
    response_model=ComplaintPublic,
    responses={404: {"description": "No such complaint"}},
    summary="Get a complaint (ETag = its version)",
    dependencies=[requires(Scope.COMPLAINTS_READ)],
)
async def get_complaint(complaint_id: str, store: StoreDep) -> JSONResponse:
    return _answer(await _load(store, complaint_id))


def _transition_route(
    action: str, target: ComplaintState, summary: str, *, only_from: ComplaintState | None = None
) -> None:
    async def act(
        complaint_id: str,
        store: StoreDep,
        settings: SettingsDep,
        actor: Actor,
        if_match: IfMatch = None,
        body: ActionBody | None = None,
    ) -> JSONResponse:
        at = _event_time(body.at if body else None, settings)

        def decide(doc: Document) -> commands.Change:
            current = ComplaintState(doc["state"])
            if only_from is not None and current is not only_from:
                raise workflow.IllegalTransition(
                    current, target, workflow.allowed_transitions(current)
                )
            return commands.move(
                doc, target, at=at, actor=actor, reopen_window=settings.reopen_window
            )

        return await _guarded(store, complaint_id, if_match, decide)

    act.__name__ = action.replace("-", "_") + "_complaint"
    router.add_api_route(
        f"/{{complaint_id}}/{action}",
        act,
        methods=["POST"],
        response_model=ComplaintPublic,
        responses=_GUARDED,
        summary=summary,
        description=f"Moves the complaint to `{target}` ({summary.lower()}). Needs If-Match.",
        dependencies=[requires(Scope.COMPLAINTS_WRITE)],
    )


_transition_route(
    "acknowledge", ComplaintState.ACKNOWLEDGED, "Acknowledge (first response to the customer)"
)
_transition_route("start", ComplaintState.IN_PROGRESS, "Start working on the complaint")
_transition_route(
    "wait-for-customer", ComplaintState.WAITING_CUSTOMER, "Wait for the customer (SLA paused)"
)
_transition_route(
    "resume",
    ComplaintState.IN_PROGRESS,
    "Resume after the customer answered (SLA runs again)",
    only_from=ComplaintState.WAITING_CUSTOMER,
)
_transition_route("close", ComplaintState.CLOSED, "Close a resolved complaint")


@router.post(
    "/{complaint_id}/reopen",
    response_model=ComplaintPublic,
    responses=_GUARDED,
    summary="Reopen a resolved or closed complaint (within the reopen window)",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def reopen_complaint(
    complaint_id: str,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
    if_match: IfMatch = None,
    body: ReopenBody | None = None,
) -> JSONResponse:
    at = _event_time(body.at if body else None, settings)
    reason = body.reason if body else None

    def decide(doc: Document) -> commands.Change:
        return commands.move(
            doc,
            ComplaintState.REOPENED,
            at=at,
            actor=actor,
            reason=reason,
            reopen_window=settings.reopen_window,
        )

    return await _guarded(store, complaint_id, if_match, decide)


@router.post(
    "/{complaint_id}/resolve",
    response_model=ComplaintPublic,
    responses=_GUARDED | {422: {"description": "Resolution incomplete"}},
    summary="Resolve with validity, root cause and corrective action",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def resolve_complaint(
    complaint_id: str,
    body: ResolveBody,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
    if_match: IfMatch = None,
) -> JSONResponse:
    """An upheld complaint needs a corrective action; a rejected one may leave it empty.

    Opens the complaint's CSAT survey unless it was answered before (a complaint is surveyed
    once, also across reopens): the answer's `survey_link` is to be sent to the customer."""
    at = _event_time(body.at, settings)
    token = commands.new_survey_token()

    def decide(doc: Document) -> commands.Change:
        resolution = Resolution(
            validity=body.validity,
            root_cause=body.root_cause,
            corrective_action=body.corrective_action,
        )
        return commands.resolve(
            doc,
            resolution,
            at=at,
            actor=actor,
            survey_token=token,
            survey_valid_for=settings.survey_valid_for,
        )

    return await _guarded(
        store, complaint_id, if_match, decide, survey_token=token, settings=settings
    )


@router.post(
    "/{complaint_id}/escalate",
    response_model=ComplaintPublic,
    responses=_GUARDED,
    summary="Escalate one level (1–3) by hand",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def escalate_complaint(
    complaint_id: str,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
    if_match: IfMatch = None,
    body: EscalateBody | None = None,
) -> JSONResponse:
    """Refused (409) for resolved or closed complaints and at the top level."""
    at = _event_time(body.at if body else None, settings)

    def decide(doc: Document) -> commands.Change:
        change = commands.escalate(doc, reason=EscalationReason.MANUAL, at=at, actor=actor)
        if body is not None and body.reason:
            note = commands.add_comment(
                doc, body=f"escalated: {body.reason}", visibility="internal", author=actor, at=at
            )
            change = replace(change, push=note.push)
        return change

    return await _guarded(store, complaint_id, if_match, decide)


@router.post(
    "/{complaint_id}/assign",
    response_model=ComplaintPublic,
    responses=_GUARDED,
    summary="Assign to a handler and team",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def assign_complaint(
    complaint_id: str,
    body: AssignBody,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
    if_match: IfMatch = None,
) -> JSONResponse:
    at = _event_time(body.at, settings)

    def decide(doc: Document) -> commands.Change:
        return commands.assign(doc, assignee=body.assignee, team=body.team, at=at, actor=actor)

    return await _guarded(store, complaint_id, if_match, decide)


@router.post(
    "/{complaint_id}/comments",
    status_code=201,
    response_model=ComplaintPublic,
    responses={404: {"description": "No such complaint"}},
    summary="Add an internal or external comment (no If-Match needed)",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def comment_complaint(
    complaint_id: str,
    body: CommentCreate,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
) -> JSONResponse:
    at = _event_time(body.at, settings)

    def decide(doc: Document) -> commands.Change:
        return commands.add_comment(
            doc, body=body.body, visibility=body.visibility, author=actor, at=at
        )

    return await _unguarded(store, complaint_id, decide)


@router.post(
    "/{complaint_id}/survey",
    status_code=201,
    response_model=ComplaintPublic,
    responses={404: {"description": "No such complaint"}, **_CONFLICT},
    summary="Answer (or skip) the one CSAT survey of a resolved complaint",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def answer_survey(
    complaint_id: str,
    body: SurveyAnswer,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
) -> JSONResponse:
    """Once per complaint: a second answer gets 409. Emits `crm.survey.answered.v1`."""
    at = _event_time(body.at, settings)

    def decide(doc: Document) -> commands.Change:
        return commands.answer_survey(
            doc, score=body.score, comment=body.comment, at=at, actor=actor
        )

    return await _unguarded(store, complaint_id, decide)


@router.post(
    "/{complaint_id}/survey/link",
    status_code=201,
    response_model=ComplaintPublic,
    responses={404: {"description": "No such complaint"}, **_CONFLICT},
    summary="Issue a new survey link for the customer (the previous one stops working)",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def issue_survey_link(
    complaint_id: str,
    store: StoreDep,
    settings: SettingsDep,
    body: ActionBody | None = None,
) -> JSONResponse:
    """For a resolved or closed complaint whose survey is unanswered: the answer's
    `survey_link` is shown this once (only its hash is kept). 409 before resolution or once
    the survey was answered."""
    at = _event_time(body.at if body else None, settings)
    token = commands.new_survey_token()

    def decide(doc: Document) -> commands.Change:
        return commands.open_survey(doc, token=token, at=at, valid_for=settings.survey_valid_for)

    return await _unguarded(store, complaint_id, decide, survey_token=token, settings=settings)


@router.post(
    "/{complaint_id}/attachments",
    status_code=201,
    response_model=ComplaintPublic,
    responses={404: {"description": "No such complaint"}, **_CONFLICT},
    summary="Record an attachment's metadata (the file itself lives in the document store)",
    dependencies=[requires(Scope.COMPLAINTS_WRITE)],
)
async def add_attachment(
    complaint_id: str,
    body: AttachmentAdd,
    store: StoreDep,
    settings: SettingsDep,
    actor: Actor,
) -> JSONResponse:
    """No If-Match needed: an attachment only adds. The same file (SHA-256) at the same
    `storage_ref` is recorded once; 409 beyond 50 attachments."""
    at = _event_time(body.at, settings)
    attachment = commands.Attachment(**body.model_dump(exclude={"at"}))

    def decide(doc: Document) -> commands.Change:
        return commands.add_attachment(doc, attachment, uploaded_by=actor, at=at)

    return await _unguarded(store, complaint_id, decide)
