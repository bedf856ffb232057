"""Request and response bodies of the complaint API (pydantic v2, one family per resource).

Request bodies forbid unknown fields, so a misspelt field is a 422 rather than silently lost.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
SURVEY_COMMENT_MAX = 2000
# type/subtype as RFC 6838 allows them (restricted-name characters), parameters not accepted.
_CONTENT_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
# An object-store key or document id: no scheme, no spaces, no `..` segments.
_OPAQUE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:/+=-]{0,1023}$")


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentCreate(RequestBody):
    """Metadata of a file already stored elsewhere; the complaint service never holds files."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "file_name": "leaking-valve-batch-2411.jpg",
                    "content_type": "image/jpeg",
                    "size_bytes": 284113,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "storage_ref": "https://files.example.cn/complaints/2411/valve.jpg",
                }
            ]
        },
    )

    file_name: str = Field(min_length=1, max_length=255, description="As uploaded, no path")
    content_type: str = Field(pattern=_CONTENT_TYPE, description="MIME type, e.g. image/jpeg")
    size_bytes: int = Field(ge=1, le=MAX_ATTACHMENT_BYTES, description="Size of the file (> 0)")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the file, hex")
    storage_ref: str = Field(
        min_length=1,
        max_length=1024,
        description="Where the file lives: an https URL or an opaque object-store key",
    )

    @field_validator("file_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if any(char in value for char in "/\\") or any(ord(char) < 32 for char in value):
            raise ValueError("a file name without path separators or control characters")
        return value

    @field_validator("content_type", "sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("storage_ref")
    @classmethod
    def _https_or_key(cls, value: str) -> str:
        if "://" in value:
            url = urlsplit(value)
            if url.scheme != "https" or not url.hostname:
                raise ValueError("a URL must be https://host/…; otherwise give an opaque key")
            return value
        if not _OPAQUE_KEY.match(value) or ".." in value.split("/"):
            raise ValueError(
                "an https URL or an opaque key (letters, digits and ._~:/+=-, no `..`)"
            )
        return value


class AttachmentAdd(AttachmentCreate):
    at: UtcDateTime | None = Field(
        default=None, description="When it was uploaded (event time); default now"
    )


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
    attachments: list[AttachmentCreate] = Field(
        default_factory=list, max_length=20, description="Photos, reports… (metadata only)"
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
    comment: str | None = Field(default=None, max_length=SURVEY_COMMENT_MAX)

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


class AttachmentPublic(BaseModel):
    id: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str | None = Field(description="None after the customer was erased")
    storage_ref: str
    uploaded_by: str | None
    uploaded_at: datetime


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
    attachments: list[AttachmentPublic] = []
    survey: SurveyPublic | None
    survey_open_until: datetime | None = Field(
        default=None, description="Until when the customer's survey link can be answered"
    )
    survey_link: str | None = Field(
        default=None,
        description="The customer's survey link, only in the response that issued it (resolve, "
        "or POST …/survey/link): send it to the customer. Only its hash is stored, so it cannot "
        "be shown again; issuing a new one replaces it.",
    )
    former_customer_ids: list[str] = Field(
        default=[], description="Customers merged into `customer_id` this complaint was under"
    )
    erased_at: datetime | None = Field(
        default=None, description="When the customer's personal data was removed"
    )

    @classmethod
    def of(
        cls, doc: Document, *, allowed: list[ComplaintState], survey_link: str | None = None
    ) -> ComplaintPublic:
        fields: dict[str, Any] = {name: doc.get(name) for name in cls.model_fields if name in doc}
        sla = doc["sla"]
        invite = doc.get("survey_invite")
        open_until = invite["expires_at"] if invite and doc.get("survey") is None else None
        return cls.model_validate(
            fields
            | {
                "id": doc["_id"],
                "allowed_transitions": allowed,
                "first_response_at": sla.get("first_response_at"),
                "sla_paused": sla.get("paused_since") is not None,
                "survey_open_until": open_until,
                "survey_link": survey_link,
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


class ComplaintMetrics(BaseModel):
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


class ComplaintGroupStats(ComplaintMetrics):
    key: str | None = Field(
        description="The group's value (category, severity, state, assignee, team, ISO week "
        "`2026-W47` or month `2026-11` of the report, UTC); None = unassigned / no team"
    )


class ComplaintStatsPublic(ComplaintMetrics):
    group_by: str | None = None
    groups: list[ComplaintGroupStats] = Field(
        default=[], description="The same metrics per group when `group_by` is given"
    )


# -- the customer's survey page (public: the token is the credential) -----------------------------


class SurveyQuestion(BaseModel):
    en: str
    zh: str


class SurveyView(BaseModel):
    """What the customer sees: their complaint's reference and kind, nothing internal."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reference": "cmp-5f0c2a9e7d3b4e1f9a8c6b5d4e3f2a1b",
                    "category": "product_quality",
                    "subcategory": "leakage",
                    "resolved_at": "2026-11-20T08:30:00Z",
                    "question": {
                        "en": "How satisfied are you with how we handled your complaint?",
                        "zh": "您对我们处理此次投诉的方式满意吗？",
                    },
                    "score_min": 1,
                    "score_max": 5,
                    "comment_max_length": 2000,
                    "open_until": "2026-12-20T08:30:00Z",
                }
            ]
        }
    )

    reference: str
    category: Category
    subcategory: Subcategory | None
    resolved_at: datetime
    question: SurveyQuestion
    score_min: int = 1
    score_max: int = 5
    comment_max_length: int = SURVEY_COMMENT_MAX
    open_until: datetime


class SurveyLinkAnswer(RequestBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"score": 4, "comment": "快速解决，谢谢"}]},
    )

    score: int = Field(ge=1, le=5, description="1 (very unhappy) … 5 (very happy)")
    comment: str | None = Field(default=None, max_length=SURVEY_COMMENT_MAX)


class SurveyThanks(BaseModel):
    reference: str
    status: Literal["answered", "skipped"]
