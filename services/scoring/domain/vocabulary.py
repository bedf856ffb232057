"""The scoring domain's own vocabulary.

Values match `shared/events/vocabulary.py` one for one, so the Faust adapter converts by value
(`Channel(event.channel.value)`); the domain itself imports nothing from `shared/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "CHANNEL_BIT",
    "SEVERITY_RANK",
    "STAGE_RANK",
    "Channel",
    "ChurnBand",
    "Direction",
    "Lifecycle",
    "LoyaltyBand",
    "RelationshipStage",
    "Scalar",
    "Severity",
    "SlaTarget",
    "Trend",
    "ValueTier",
]

Scalar = str | int | float
"""What a feature value or a reason parameter may be (JSON- and Mongo-safe, never NaN)."""


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


# Explicit, append-only bit positions: the state stores channel sets as bit masks, so a channel
# added later must not move the others.
CHANNEL_BIT: Mapping[Channel, int] = MappingProxyType(
    {
        Channel.PHONE: 0,
        Channel.EMAIL: 1,
        Channel.SMS: 2,
        Channel.WECHAT: 3,
        Channel.WEB_CHAT: 4,
        Channel.SOCIAL: 5,
        Channel.VISIT: 6,
        Channel.MEETING: 7,
        Channel.OTHER: 8,
    }
)


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK: Mapping[Severity, int] = MappingProxyType(
    {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
)


class RelationshipStage(StrEnum):
    """卖主 → 优先供应商 → 合作伙伴 → 战略联盟."""

    VENDOR = "vendor"
    PREFERRED_SUPPLIER = "preferred_supplier"
    PARTNER = "partner"
    ALLIANCE = "alliance"


STAGE_RANK: Mapping[RelationshipStage, int] = MappingProxyType(
    {
        RelationshipStage.VENDOR: 0,
        RelationshipStage.PREFERRED_SUPPLIER: 1,
        RelationshipStage.PARTNER: 2,
        RelationshipStage.ALLIANCE: 3,
    }
)


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class ChurnBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class LoyaltyBand(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


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


class Trend(StrEnum):
    """Direction of the churn risk against the previous score."""

    UP = "up"
    DOWN = "down"
    FLAT = "flat"
