"""The CRM's shared vocabulary: the enumerations that appear in event contracts."""

from __future__ import annotations

from enum import StrEnum


class CustomerKind(StrEnum):
    ORGANISATION = "organisation"
    PERSON = "person"


class RelationshipStage(StrEnum):
    """卖主 → 优先供应商 → 合作伙伴 → 战略联盟 (requirements §2.1)."""

    VENDOR = "vendor"
    PREFERRED_SUPPLIER = "preferred_supplier"
    PARTNER = "partner"
    ALLIANCE = "alliance"


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    WECHAT = "wechat"
    WEB_CHAT = "web_chat"
    SOCIAL = "social"
    VISIT = "visit"
    MEETING = "meeting"
    OTHER = "other"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ComplaintCategory(StrEnum):
    PRODUCT_QUALITY = "product_quality"
    DELIVERY = "delivery"
    SERVICE = "service"
    BILLING = "billing"
    OTHER = "other"


class ComplaintState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class RootCauseSide(StrEnum):
    COMPANY = "company"
    CUSTOMER = "customer"


class RootCause(StrEnum):
    """Company-side (quality, delivery, service) or customer-side (misuse, expectation)."""

    QUALITY = "quality"
    DELIVERY = "delivery"
    SERVICE = "service"
    MISUSE = "misuse"
    EXPECTATION = "expectation"

    @property
    def side(self) -> RootCauseSide:
        """Whose side the cause lies on: the company's or the customer's (requirements §2.4)."""
        if self in (RootCause.MISUSE, RootCause.EXPECTATION):
            return RootCauseSide.CUSTOMER
        return RootCauseSide.COMPANY


class Validity(StrEnum):
    UPHELD = "upheld"
    REJECTED = "rejected"


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class EscalationReason(StrEnum):
    MANUAL = "manual"
    SLA_BREACH = "sla_breach"


class ChurnBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ValueTier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Lifecycle(StrEnum):
    PROSPECT = "prospect"
    NEW = "new"
    ACTIVE = "active"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    CHURNED = "churned"
    WON_BACK = "won_back"
