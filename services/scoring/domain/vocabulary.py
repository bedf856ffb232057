"""The scoring domain's vocabulary: the CRM's shared enumerations plus scoring's own.

The shared ones are defined once, with the event contracts (`shared/events/vocabulary.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from shared.events.vocabulary import (
    Channel,
    ChurnBand,
    Direction,
    Lifecycle,
    RelationshipStage,
    Severity,
    SlaTarget,
    ValueTier,
)

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


SEVERITY_RANK: Mapping[Severity, int] = MappingProxyType(
    {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
)


STAGE_RANK: Mapping[RelationshipStage, int] = MappingProxyType(
    {
        RelationshipStage.VENDOR: 0,
        RelationshipStage.PREFERRED_SUPPLIER: 1,
        RelationshipStage.PARTNER: 2,
        RelationshipStage.ALLIANCE: 3,
    }
)


class LoyaltyBand(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


class Trend(StrEnum):
    """Direction of the churn risk against the previous score."""

    UP = "up"
    DOWN = "down"
    FLAT = "flat"
