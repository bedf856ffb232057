"""Loyalty 0–100: a weighted sum of eight components, each scaled to 0–1.

    loyalty = 20·recency + 20·frequency + 15·monetary + 10·tenure
            + 10·engagement + 10·satisfaction + 10·complaints + 5·relationship

Recency is relative to the customer's own rhythm; frequency and monetary value are time-decayed
and relative to the population median, so the score means the same across segments of very
different order sizes. Weights and scales are assumptions (see docs/scoring.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.scoring.domain.features import FeatureConfig
from services.scoring.domain.population import PopulationParameters
from services.scoring.domain.snapshot import Snapshot
from services.scoring.domain.vocabulary import STAGE_RANK, LoyaltyBand, Scalar

__all__ = [
    "DEFAULT_LOYALTY_PARAMS",
    "LoyaltyParams",
    "LoyaltyScore",
    "assess_loyalty",
    "loyalty_band",
]

_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class LoyaltyParams:
    """Component weights (summing to 100), component scales and band bounds."""

    weight_recency: float = 20.0
    weight_frequency: float = 20.0
    weight_monetary: float = 15.0
    weight_tenure: float = 10.0
    weight_engagement: float = 10.0
    weight_satisfaction: float = 10.0
    weight_complaints: float = 10.0
    weight_relationship: float = 5.0
    # recency = 1 / (1 + (silence / (scale × usual interval))²): 0.5 at twice the usual gap.
    recency_scale: float = 2.0
    tenure_scale_years: float = 2.0
    channels_for_full_breadth: int = 3
    # volume = 1 − exp(−contacts per month / scale): 0.63 for one contact a month.
    contact_volume_per_month: float = 1.0
    # Satisfaction with no survey yet (≈ 3.4 of 5), and the share sentiment has in it.
    satisfaction_prior: float = 0.6
    sentiment_share: float = 0.2
    complaint_load_scale: float = 0.25
    complaint_sla_scale: float = 0.3
    complaint_open_scale: float = 0.3
    stage_score: tuple[float, float, float, float] = (0.25, 0.5, 0.75, 1.0)
    unknown_stage_score: float = 0.25
    key_account_share: float = 0.3
    # Band lower bounds of silver, gold and platinum.
    bands: tuple[float, float, float] = (40.0, 60.0, 80.0)

    def __post_init__(self) -> None:
        total = (
            self.weight_recency
            + self.weight_frequency
            + self.weight_monetary
            + self.weight_tenure
            + self.weight_engagement
            + self.weight_satisfaction
            + self.weight_complaints
            + self.weight_relationship
        )
        if not math.isclose(total, 100.0):
            raise ValueError(f"loyalty weights must sum to 100, got {total}")
        if not 0 < self.bands[0] < self.bands[1] < self.bands[2] < 100:
            raise ValueError("loyalty bands must be increasing within (0, 100)")


DEFAULT_LOYALTY_PARAMS = LoyaltyParams()


@dataclass(frozen=True, slots=True)
class LoyaltyScore:
    score: float
    band: LoyaltyBand


def loyalty_band(score: float, params: LoyaltyParams = DEFAULT_LOYALTY_PARAMS) -> LoyaltyBand:
    """bronze < 40 ≤ silver < 60 ≤ gold < 80 ≤ platinum (with the default bands)."""
    silver, gold, platinum = params.bands
    if score >= platinum:
        return LoyaltyBand.PLATINUM
    if score >= gold:
        return LoyaltyBand.GOLD
    if score >= silver:
        return LoyaltyBand.SILVER
    return LoyaltyBand.BRONZE


def _components(
    snap: Snapshot, params: LoyaltyParams, population: PopulationParameters, config: FeatureConfig
) -> dict[str, float]:
    p = params
    if snap.days_silent is None:
        recency = 0.0
    else:
        usual = snap.usual_interval_days or math.exp(population.gap_log_mean)
        recency = 1.0 / (1.0 + (snap.days_silent / (p.recency_scale * usual)) ** 2)
    frequency = snap.frequency / (snap.frequency + population.frequency_median)
    monetary = snap.monetary / (snap.monetary + population.value_b_min)
    tenure = (
        0.0
        if snap.tenure_days is None
        else 1.0 - math.exp(-snap.tenure_days / _DAYS_PER_YEAR / p.tenure_scale_years)
    )
    breadth = min(1.0, snap.channels / p.channels_for_full_breadth)
    volume = 1.0 - math.exp(-snap.contacts_per_month_usual / p.contact_volume_per_month)
    engagement = 0.5 * breadth + 0.5 * volume

    csat = p.satisfaction_prior
    if snap.csat_avg is not None:
        # Old answers count less: blend towards the prior as their decayed weight fades.
        evidence = min(1.0, snap.csat_evidence)
        csat += ((snap.csat_avg - 1.0) / 4.0 - p.satisfaction_prior) * evidence
    satisfaction = csat
    if snap.sentiment_avg is not None:
        satisfaction = (1.0 - p.sentiment_share) * csat + p.sentiment_share * (
            (snap.sentiment_avg + 1.0) / 2.0
        )

    open_weight = sum(
        n * load
        for n, load in zip(
            (snap.open_low, snap.open_medium, snap.open_high, snap.open_critical),
            config.severity_load,
            strict=True,
        )
    )
    complaints = math.exp(
        -(
            p.complaint_load_scale * snap.complaint_load
            + p.complaint_sla_scale * snap.sla_recent
            + p.complaint_open_scale * open_weight
        )
    )
    stage = (
        p.unknown_stage_score
        if snap.relationship_stage is None
        else p.stage_score[STAGE_RANK[snap.relationship_stage]]
    )
    relationship = (1.0 - p.key_account_share) * stage + p.key_account_share * float(
        snap.key_account
    )
    return {
        "recency": recency,
        "frequency": frequency,
        "monetary": monetary,
        "tenure": tenure,
        "engagement": engagement,
        "satisfaction": satisfaction,
        "complaints": complaints,
        "relationship": relationship,
    }


def assess_loyalty(
    snap: Snapshot,
    *,
    params: LoyaltyParams,
    population: PopulationParameters,
    config: FeatureConfig,
) -> tuple[LoyaltyScore, dict[str, Scalar]]:
    """The loyalty score (0–100, one decimal) and its components (0–1) as flat features."""
    parts = _components(snap, params, population, config)
    weights = {
        "recency": params.weight_recency,
        "frequency": params.weight_frequency,
        "monetary": params.weight_monetary,
        "tenure": params.weight_tenure,
        "engagement": params.weight_engagement,
        "satisfaction": params.weight_satisfaction,
        "complaints": params.weight_complaints,
        "relationship": params.weight_relationship,
    }
    total = math.fsum(weights[name] * value for name, value in parts.items())
    score = round(min(100.0, max(0.0, total)), 1)
    features: dict[str, Scalar] = {f"loyalty_{k}": round(v, 4) for k, v in parts.items()}
    return LoyaltyScore(score=score, band=loyalty_band(score, params)), features
