"""Request and response bodies of the complaint API (pydantic v2, one family per resource).

Request bodies forbid unknown fields, so a misspelt field is a 422 rather than silently lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.complaint.domain.workflow import (
    Category,
    ComplaintState,
    RootCause,
    Severity,
    Subcategory,
    Validity,
)
from shared.events.envelope import CustomerId, UtcDateTime
from shared.events.vocabulary import Channel
from shared.mongo import Document


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComplaintCreate(RequestBody):
    customer_id: CustomerId
    category: Category
    subcategory: Subcategory | None = Field(
        default=None, description="Must belong to the category (e.g. leakage → product_quality)"
    )
    severity: Severity
    channel: Channel | None = None
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    order_id: str | None = Field(default=None, min_length=1, max_length=128)
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The caller's id; creating again with the same one returns the first "
        "complaint (200) instead of a new one",
    )
    reported_at: UtcDateTime | None = Field(
        default=None, description="When the customer complained (event time); default now"
    )


class ActionBody(RequestBody):
    at: UtcDateTime | None = Field(
        default=None, description="When it happened (event time); default now"
    )


class ReopenBody(ActionBody):
    reason: str | None = Field(default=None, max_length=500)


class ResolveBody(ActionBody):
    validity: Validity
    root_cause: RootCause
    corrective_action: str = Field(
        default="", max_length=2000, description="Required when the complaint is upheld"
    )


class EscalateBody(ActionBody):
    reason: str | None = Field(default=None, max_length=500, description="Why (kept as comment)")


class AssignBody(ActionBody):
    assignee: str = Field(min_length=1, max_length=128)
    team: str | None = Field(default=None, min_length=1, max_length=128)


class CommentCreate(ActionBody):
    body: str = Field(min_length=1, max_length=10_000)
    visibility: Literal["internal", "external"] = "internal"


class SurveyAnswer(ActionBody):
    score: int | None = Field(default=None, ge=1, le=5, description="1–5; absent when skipped")
    skipped: bool = False
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _score_or_skipped(self) -> SurveyAnswer:
        if self.skipped == (self.score is not None):
            raise ValueError("give either a score (1–5) or skipped=true, not both or neither")
        return self


class SlaBreachPublic(BaseModel):
    target: str
    due_at: datetime
    detected_at: datetime


class ResolutionPublic(BaseModel):
    validity: Validity
    root_cause: RootCause
    corrective_action: str


class CommentPublic(BaseModel):
    id: str
    body: str
    visibility: str
    author: str | None
    created_at: datetime


class SurveyPublic(BaseModel):
    id: str
    score: int | None
    skipped: bool
    comment: str | None
    answered_at: datetime


class ComplaintPublic(BaseModel):
    id: str
    customer_id: str
    external_id: str | None
    category: Category
    subcategory: Subcategory | None
    severity: Severity
    channel: Channel | None
    title: str
    description: str
    order_id: str | None
    state: ComplaintState
    allowed_transitions: list[ComplaintState]
    version: int
    escalation_level: int
    assignee: str | None
    team: str | None
    reported_at: datetime
    first_response_at: datetime | None
    first_response_due: datetime
    resolution_due: datetime | None = Field(description="None while the SLA clock is paused")
    sla_paused: bool
    sla_breaches: list[SlaBreachPublic]
    resolution: ResolutionPublic | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    comments: list[CommentPublic]
    survey: SurveyPublic | None

    @classmethod
    def of(cls, doc: Document, *, allowed: list[ComplaintState]) -> ComplaintPublic:
        fields: dict[str, Any] = {name: doc.get(name) for name in cls.model_fields if name in doc}
        sla = doc["sla"]
        return cls.model_validate(
            fields
            | {
                "id": doc["_id"],
                "allowed_transitions": allowed,
                "first_response_at": sla.get("first_response_at"),
                "sla_paused": sla.get("paused_since") is not None,
            }
        )


class ComplaintsPage(BaseModel):
    items: list[ComplaintPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; None at end")


class AllowedTransitionsError(BaseModel):
    detail: str
    state: ComplaintState
    allowed: list[ComplaintState]


class RootCauseCount(BaseModel):
    root_cause: str
    count: int


class ComplaintStatsPublic(BaseModel):
    total: int
    by_category: dict[str, int]
    by_severity: dict[str, int]
    by_state: dict[str, int]
    median_first_response_s: float | None
    median_resolution_s: float | None
    breach_rate: float | None
    reopen_rate: float | None
    top_root_causes: list[RootCauseCount]
    csat_average: float | None
    surveys_answered: int
    surveys_skipped: int
