"""Events of the customer archive (topic crm.customer.v1).

Created and updated events carry the whole profile (event-carried state transfer), so other
services keep their read models from these events alone.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import CustomerId, EventData, UtcDateTime
from shared.events.vocabulary import CustomerKind, RelationshipStage, ValueTier


class Contact(BaseModel):
    """A person at the customer (personal data)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(max_length=200)
    role: str | None = Field(default=None, max_length=100)
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    wechat_ids: tuple[str, ...] = ()


class CustomerProfile(BaseModel):
    """The shareable state of one customer."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: CustomerKind
    name: str = Field(max_length=200, description="Name as written (e.g. 中山凯达)")
    name_latin: str | None = Field(default=None, max_length=200)
    region: str | None = None
    industry: str | None = None
    segments: tuple[str, ...] = Field(
        default=(), description="Product segments, e.g. insecticide_aerosol, beverage_can"
    )
    tier: str | None = Field(default=None, description="Market tier, e.g. first_tier")
    key_account: bool = False
    relationship_stage: RelationshipStage | None = None
    credit_grade: str | None = None
    owner: str | None = Field(default=None, description="Account manager")
    tags: tuple[str, ...] = ()
    external_ids: dict[str, str] = Field(default_factory=dict, description="e.g. {'erp': 'C001'}")
    phones: tuple[str, ...] = Field(default=(), description="Normalised E.164")
    emails: tuple[str, ...] = Field(default=(), description="Normalised lower-case")
    contacts: tuple[Contact, ...] = ()
    share_of_volume: Decimal | None = Field(default=None, ge=0, le=1)
    grade_override: ValueTier | None = None
    customer_since: UtcDateTime | None = None


class CustomerCreated(EventData):
    """A customer entered the archive; carries the whole profile."""

    event_type = "crm.customer.created.v1"
    profile: CustomerProfile


class CustomerUpdated(EventData):
    """A customer's profile changed; the whole new profile and which fields changed."""

    event_type = "crm.customer.updated.v1"
    profile: CustomerProfile
    changed_fields: tuple[str, ...]


class CustomerMerged(EventData):
    """`subject` is the survivor; the merged ids now resolve to it."""

    event_type = "crm.customer.merged.v1"
    merged_ids: tuple[CustomerId, ...] = Field(min_length=1)
    profile: CustomerProfile


class CustomerErased(EventData):
    """Personal data of `subject` must be removed everywhere (personal-information law)."""

    event_type = "crm.customer.erased.v1"
    reason: str | None = Field(default=None, max_length=200)
