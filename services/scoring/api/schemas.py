"""Response bodies of the scoring read API (pydantic v2), with OpenAPI examples."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import UtcDateTime
from shared.events.scoring import ChurnReason, ChurnRisk, LoyaltyScore, Parameter
from shared.events.vocabulary import ChurnBand, Lifecycle, ValueTier
from shared.mongo import Document

_REASON_EXAMPLE: dict[str, Any] = {
    "code": "silent_beyond_rhythm",
    "contribution": 1.7,
    "share": 0.62,
    "params": {"days_silent": 30, "usual_interval_days": 3.0},
    "text": "No order for 30 days although they usually order every 3 days.",
}

SCORE_EXAMPLE: dict[str, Any] = {
    "customer_id": "C001",
    "event_id": "5b0c7c0e-2f0e-5d3a-9d57-0f7f5c1f1a11",
    "loyalty": {"score": 42.5, "band": "silver"},
    "churn": {"risk": 0.81, "band": "critical", "horizon_days": 90, "reasons": [_REASON_EXAMPLE]},
    "value_tier": "A",
    "lifecycle": "at_risk",
    "trend": "up",
    "model_version": "2026.11-1",
    "computed_at": "2026-11-23T08:00:01Z",
    "as_of": "2026-11-23T08:00:00Z",
    "features": {"days_since_last_order": 30},
}


class ScorePublic(BaseModel):
    """One score of one customer, as the worker stored it (the ScoreUpdated data)."""

    model_config = ConfigDict(json_schema_extra={"examples": [SCORE_EXAMPLE]})

    customer_id: str
    event_id: str = Field(description="Id of the crm.score.updated.v1 event carrying this score")
    loyalty: LoyaltyScore
    churn: ChurnRisk
    value_tier: ValueTier
    lifecycle: Lifecycle
    trend: str = Field(description="Direction of churn risk: up, down or flat")
    model_version: str
    computed_at: UtcDateTime
    as_of: UtcDateTime = Field(description="The instant (event time) the score describes")
    features: dict[str, Parameter] = Field(default_factory=dict)

    @classmethod
    def of(cls, doc: Document) -> ScorePublic:
        return cls.model_validate(doc)


class ReasonPublic(BaseModel):
    code: str
    params: dict[str, Parameter] = Field(default_factory=dict)
    text: str


class AtRiskItem(BaseModel):
    customer_id: str
    risk: float = Field(ge=0, le=1, description="P(no order within the horizon)")
    band: ChurnBand
    reasons: list[ReasonPublic] = Field(description="Top reasons, strongest first")
    trend: str
    value_tier: ValueTier
    lifecycle: Lifecycle
    loyalty: LoyaltyScore
    as_of: UtcDateTime

    @classmethod
    def of(cls, doc: Document, *, top: int = 3) -> AtRiskItem:
        churn = ChurnRisk.model_validate(doc["churn"])
        reasons = [_reason(r) for r in churn.reasons[:top]]
        return cls(
            customer_id=str(doc["_id"]),
            risk=churn.risk,
            band=churn.band,
            reasons=reasons,
            trend=doc["trend"],
            value_tier=doc["value_tier"],
            lifecycle=doc["lifecycle"],
            loyalty=LoyaltyScore.model_validate(doc["loyalty"]),
            as_of=doc["as_of"],
        )


def _reason(reason: ChurnReason) -> ReasonPublic:
    return ReasonPublic(code=reason.code, params=dict(reason.params), text=reason.text)


class AtRiskPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "customer_id": "C001",
                            "risk": 0.81,
                            "band": "critical",
                            "reasons": [
                                {k: _REASON_EXAMPLE[k] for k in ("code", "params", "text")}
                            ],
                            "trend": "up",
                            "value_tier": "A",
                            "lifecycle": "at_risk",
                            "loyalty": {"score": 42.5, "band": "silver"},
                            "as_of": "2026-11-23T08:00:00Z",
                        }
                    ],
                    "next_cursor": "0.81|C001",
                }
            ]
        }
    )

    items: list[AtRiskItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end")


class DistributionPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customers": 1000,
                    "churn_band": {"low": 700, "medium": 180, "high": 90, "critical": 30},
                    "value_tier": {"A": 200, "B": 300, "C": 500},
                    "lifecycle": {"active": 600, "loyal": 250, "at_risk": 120, "churned": 30},
                    "loyalty_band": {"bronze": 400, "silver": 350, "gold": 200, "platinum": 50},
                }
            ]
        }
    )

    customers: int = Field(ge=0)
    churn_band: dict[str, int] = Field(description="Every churn band, zero when none")
    value_tier: dict[str, int] = Field(description="Every value tier, zero when none")
    lifecycle: dict[str, int] = Field(description="Every lifecycle stage, zero when none")
    loyalty_band: dict[str, int]


class HistoryPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customer_id": "C001", "items": [SCORE_EXAMPLE]}]}
    )

    customer_id: str
    items: list[ScorePublic] = Field(description="Newest first")
