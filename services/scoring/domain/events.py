"""The scorer's inputs: small immutable facts, one per relevant CRM event.

The Faust adapter converts the project's Kafka events (deduplicated by event id before they get
here) into these values. Every time is the event time and must be timezone-aware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from services.scoring.domain.eventtime import require_aware
from services.scoring.domain.vocabulary import (
    Channel,
    Direction,
    RelationshipStage,
    Severity,
    SlaTarget,
)

__all__ = [
    "ComplaintClosed",
    "ComplaintEscalated",
    "ComplaintOpened",
    "ComplaintReopened",
    "ComplaintResolved",
    "Event",
    "Interaction",
    "OrderCancelled",
    "OrderPlaced",
    "OrderReturned",
    "ProfileChanged",
    "SlaBreached",
    "SurveyAnswered",
]


def _require_amount(amount: float) -> None:
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"amount must be a finite number ≥ 0, got {amount!r}")


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    order_id: str
    at: datetime
    amount: float

    def __post_init__(self) -> None:
        require_aware(self.at)
        _require_amount(self.amount)


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    order_id: str
    at: datetime
    amount: float

    def __post_init__(self) -> None:
        require_aware(self.at)
        _require_amount(self.amount)


@dataclass(frozen=True, slots=True)
class OrderReturned:
    at: datetime
    amount: float

    def __post_init__(self) -> None:
        require_aware(self.at)
        _require_amount(self.amount)


@dataclass(frozen=True, slots=True)
class Interaction:
    at: datetime
    channel: Channel
    direction: Direction
    sentiment: float | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)
        if self.sentiment is not None and not -1.0 <= self.sentiment <= 1.0:
            raise ValueError(f"sentiment must be within [-1, 1], got {self.sentiment!r}")


@dataclass(frozen=True, slots=True)
class ComplaintOpened:
    complaint_id: str
    at: datetime
    severity: Severity

    def __post_init__(self) -> None:
        require_aware(self.at)


@dataclass(frozen=True, slots=True)
class ComplaintEscalated:
    complaint_id: str
    at: datetime
    level: int

    def __post_init__(self) -> None:
        require_aware(self.at)
        if self.level < 1:
            raise ValueError(f"escalation level must be ≥ 1, got {self.level!r}")


@dataclass(frozen=True, slots=True)
class _ComplaintMoved:
    """A complaint changed state; only which complaint and when matter to scoring."""

    complaint_id: str
    at: datetime

    def __post_init__(self) -> None:
        require_aware(self.at)


@dataclass(frozen=True, slots=True)
class ComplaintResolved(_ComplaintMoved):
    pass


@dataclass(frozen=True, slots=True)
class ComplaintClosed(_ComplaintMoved):
    pass


@dataclass(frozen=True, slots=True)
class ComplaintReopened(_ComplaintMoved):
    pass


@dataclass(frozen=True, slots=True)
class SlaBreached:
    complaint_id: str
    at: datetime
    target: SlaTarget

    def __post_init__(self) -> None:
        require_aware(self.at)


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """A CSAT answer, 1–5; `score` is None when the customer skipped the survey."""

    at: datetime
    score: int | None

    def __post_init__(self) -> None:
        require_aware(self.at)
        if self.score is not None and not 1 <= self.score <= 5:
            raise ValueError(f"CSAT score must be 1–5 or None, got {self.score!r}")


@dataclass(frozen=True, slots=True)
class ProfileChanged:
    """The customer's profile as of `at` (a snapshot: the latest by event time wins)."""

    at: datetime
    key_account: bool
    relationship_stage: RelationshipStage | None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)
        if self.created_at is not None:
            require_aware(self.created_at, "created_at")


Event = (
    OrderPlaced
    | OrderCancelled
    | OrderReturned
    | Interaction
    | ComplaintOpened
    | ComplaintEscalated
    | ComplaintResolved
    | ComplaintClosed
    | ComplaintReopened
    | SlaBreached
    | SurveyAnswered
    | ProfileChanged
)
"""Everything `fold` accepts."""
