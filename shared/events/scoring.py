"""Scores and churn alerts (topics crm.scores.v1, compacted, and crm.alerts.v1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import EventData, UtcDateTime
from shared.events.vocabulary import ChurnBand, Lifecycle, ValueTier

Parameter = str | int | float | bool


class ChurnReason(BaseModel):
    """A stable reason code with parameters (any UI renders it in its language)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    code: str = Field(pattern=r"^[a-z_]+$")
    contribution: float = Field(description="Log-odds this reason adds to the churn risk")
    share: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of the total positive log-odds it explains"
    )
    params: dict[str, Parameter] = Field(default_factory=dict)
    text: str = Field(description="Default English sentence for an account manager")


class LoyaltyScore(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    score: float = Field(ge=0, le=100)
    band: str


class ChurnRisk(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    risk: float = Field(ge=0, le=1, description="P(no order within the horizon)")
    band: ChurnBand
    horizon_days: int = Field(gt=0)
    reasons: tuple[ChurnReason, ...] = ()


class ScoreUpdated(EventData):
    """A customer's loyalty, churn risk, value tier or lifecycle changed."""

    event_type = "crm.score.updated.v1"
    loyalty: LoyaltyScore
    churn: ChurnRisk
    value_tier: ValueTier
    lifecycle: Lifecycle
    trend: str = Field(pattern=r"^(up|down|flat)$", description="Direction of churn risk")
    model_version: str
    computed_at: UtcDateTime
    as_of: UtcDateTime
    features: dict[str, Parameter] = Field(default_factory=dict)


class ChurnAlertRaised(EventData):
    """The churn band rose (once per crossing)."""

    event_type = "crm.alert.churn_raised.v1"
    from_band: ChurnBand
    to_band: ChurnBand
    risk: float = Field(ge=0, le=1)
    reasons: tuple[ChurnReason, ...] = ()


class LoyaltyDropped(EventData):
    """Loyalty fell sharply since the last alert-free score (once per crossing)."""

    event_type = "crm.alert.loyalty_dropped.v1"
    from_score: float = Field(ge=0, le=100)
    to_score: float = Field(ge=0, le=100)
