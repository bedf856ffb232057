"""Request and response bodies of the customer API (pydantic v2, one family per resource).

Request bodies forbid unknown fields and bound every string and list, so a misspelt field, a
wrong type, an oversized value or an unparseable phone/e-mail is a 422 naming the field.
Phones and e-mails are normalised on the way in (see `domain.normalise`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from services.customer.domain.normalise import normalise_email, normalise_phone, unique_in_order
from shared.events.envelope import CustomerId, UtcDateTime
from shared.events.vocabulary import CustomerKind, RelationshipStage, ValueTier

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Phone = Annotated[str, Field(max_length=40), AfterValidator(normalise_phone)]
Email = Annotated[str, Field(max_length=254), AfterValidator(normalise_email)]
WechatId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# System names become Mongo field names: no dots or dollars.
ExternalSystem = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ExternalValue = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$")
]


Phones = Annotated[list[Phone], Field(max_length=20), AfterValidator(unique_in_order)]
Emails = Annotated[list[Email], Field(max_length=20), AfterValidator(unique_in_order)]


# Fields a PATCH may change but never to null (clear a list with [] instead).
_NOT_NULL = frozenset(
    {"kind", "name", "contacts", "phones", "emails", "addresses", "segments"}
    | {"external_ids", "tags", "key_account", "consent"}
)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(RequestBody):
    name: ShortText
    role: Annotated[str, StringConstraints(max_length=100)] | None = None
    phones: Phones = []
    emails: Emails = []
    wechat_ids: Annotated[list[WechatId], Field(max_length=10)] = []


class AddressIn(RequestBody):
    label: Label | None = Field(default=None, description="e.g. billing, delivery, plant")
    line: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    city: ShortText | None = None
    province: ShortText | None = None
    postcode: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "CN"


class ConsentIn(RequestBody):
    """What the customer agreed to (personal-information law); all off unless given."""

    marketing_email: bool = False
    marketing_sms: bool = False
    marketing_phone: bool = False
    marketing_wechat: bool = False
    data_sharing: bool = False


class CustomerFields(RequestBody):
    """Every settable field; on create `kind` and `name` are required."""

    kind: CustomerKind | None = None
    name: ShortText | None = Field(default=None, description="Name as written, e.g. 中山凯达")
    name_latin: ShortText | None = None
    contacts: Annotated[list[ContactIn], Field(max_length=50)] | None = None
    phones: Phones | None = None
    emails: Emails | None = None
    addresses: Annotated[list[AddressIn], Field(max_length=20)] | None = None
    region: Label | None = None
    industry: Label | None = None
    segments: Annotated[list[Label], Field(max_length=20)] | None = Field(
        default=None, description="Product segments, e.g. insecticide_aerosol, beverage_can"
    )
    external_ids: Annotated[dict[ExternalSystem, ExternalValue], Field(max_length=10)] | None = (
        Field(default=None, description="Unique per system, e.g. {'erp': 'C001'}")
    )
    tags: Annotated[list[Label], Field(max_length=50)] | None = None
    owner: Label | None = Field(default=None, description="Account manager")
    key_account: bool | None = None
    relationship_stage: RelationshipStage | None = None
    tier: Label | None = Field(default=None, description="Market tier, e.g. first_tier")
    credit_grade: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    share_of_volume: float | None = Field(
        default=None, ge=0, le=1, description="Our share of the customer's volume, 0..1"
    )
    grade_override: ValueTier | None = Field(default=None, description="Manual A/B/C grade")
    consent: ConsentIn | None = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    customer_since: UtcDateTime | None = None

    @model_validator(mode="after")
    def _not_null(self) -> CustomerFields:
        for name in sorted(self.model_fields_set & _NOT_NULL):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null (send [] / {{}} / false to clear it)")
        return self

    def record_fields(self) -> dict[str, Any]:
        """The fields the caller sent, as JSON-able values (what the store keeps)."""
        return self.model_dump(mode="json", exclude_unset=True)


class CustomerCreate(CustomerFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "organisation",
                    "name": "中山凯达精细化工股份有限公司",
                    "name_latin": "Zhongshan Kaida Fine Chemical",
                    "phones": ["0760-8888 1234"],
                    "emails": ["Purchasing@Kaida.example.cn"],
                    "region": "guangdong",
                    "segments": ["insecticide_aerosol"],
                    "external_ids": {"erp": "C001"},
                    "key_account": True,
                    "relationship_stage": "preferred_supplier",
                    "contacts": [{"name": "李娜", "role": "采购经理", "phones": ["138 0013 8000"]}],
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _required(self) -> CustomerCreate:
        missing = [name for name in ("kind", "name") if getattr(self, name) is None]
        if missing:
            raise ValueError(f"required on create: {', '.join(missing)}")
        return self


class CustomerUpdate(CustomerFields):
    """Only the fields sent change; lists and maps are replaced whole."""


class CustomerPublic(BaseModel):
    id: str
    version: int
    kind: CustomerKind
    name: str
    name_latin: str | None
    contacts: list[dict[str, Any]]
    phones: list[str]
    emails: list[str]
    addresses: list[dict[str, Any]]
    region: str | None
    industry: str | None
    segments: list[str]
    external_ids: dict[str, str]
    tags: list[str]
    owner: str | None
    key_account: bool
    relationship_stage: RelationshipStage | None
    tier: str | None
    credit_grade: str | None
    share_of_volume: float | None
    grade_override: ValueTier | None
    consent: dict[str, bool]
    notes: str | None
    customer_since: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    merged_into: str | None = None
    erased_at: datetime | None = None


class CustomersPage(BaseModel):
    items: list[CustomerPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class FieldChangePublic(BaseModel):
    field: str
    before: Any
    after: Any


class HistoryEntry(BaseModel):
    id: str
    version: int
    action: Literal["created", "updated", "deleted", "merged", "erased"]
    actor: str | None
    at: datetime
    changes: list[FieldChangePublic]


class CustomerHistory(BaseModel):
    customer_id: str
    entries: list[HistoryEntry]


class MergeBody(RequestBody):
    merged_ids: Annotated[list[CustomerId], Field(min_length=1, max_length=20)] = Field(
        description="Customers to merge into this one; they then resolve to it"
    )


class EraseBody(RequestBody):
    reason: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="e.g. the data subject's request number"
    )


class DuplicateCandidate(BaseModel):
    customer: CustomerPublic
    reasons: list[str] = Field(
        description="e.g. phone:+86…, email:…, external_id:erp, similar_name"
    )


class DuplicateCandidates(BaseModel):
    customer_id: str
    candidates: list[DuplicateCandidate]


ImportStatus = Literal["created", "updated", "unchanged", "rejected"]


class ImportRowResult(BaseModel):
    row: int = Field(
        description="CSV: the line the row starts on (header = 1); JSON/NDJSON: its position"
    )
    status: ImportStatus
    external_id: str | None = Field(default=None, description="The row's code in `match`")
    customer_id: str | None = Field(
        default=None, description="The customer created or matched (none on a dry run create)"
    )
    field: str | None = Field(default=None, description="Rejected: the field at fault")
    reason: str | None = Field(default=None, description="Rejected: why, field by field")


class ImportReport(BaseModel):
    dry_run: bool
    match: str = Field(description="The external-id system rows were matched by")
    created: int
    updated: int
    unchanged: int
    rejected: int
    stopped: str | None = Field(
        description="Why the file was not read to its end (rows before it are imported)"
    )
    results: list[ImportRowResult] = Field(description="One per row, in file order")
